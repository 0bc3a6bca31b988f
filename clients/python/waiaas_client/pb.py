"""The generated protobuf modules, for building or reading messages directly:

    from waiaas_client import pb
    pb.wallet_pb2.Wallet, pb.sign_request_pb2.SignRequest, pb.status_pb2.Status, ...
"""
from ._gen.google.rpc import error_details_pb2, status_pb2
from ._gen.waiaas.v1 import (
    agent_pb2,
    agent_pb2_grpc,
    approval_pb2,
    approval_pb2_grpc,
    audit_pb2,
    audit_pb2_grpc,
    effects_pb2,
    owner_pb2,
    owner_pb2_grpc,
    policy_pb2,
    policy_pb2_grpc,
    sign_request_pb2,
    sign_request_pb2_grpc,
    signer_pb2,
    signer_pb2_grpc,
    wallet_pb2,
    wallet_pb2_grpc,
)

__all__ = [
    "error_details_pb2", "status_pb2",
    "agent_pb2", "agent_pb2_grpc", "approval_pb2", "approval_pb2_grpc", "audit_pb2", "audit_pb2_grpc", "effects_pb2",
    "owner_pb2", "owner_pb2_grpc", "policy_pb2", "policy_pb2_grpc", "sign_request_pb2", "sign_request_pb2_grpc",
    "signer_pb2", "signer_pb2_grpc", "wallet_pb2", "wallet_pb2_grpc",
]
