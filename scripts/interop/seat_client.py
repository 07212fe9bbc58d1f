#!/usr/bin/python3
"""Calls the broker's SeatService from Python, as an app in another language would.

Acquire a seat, heartbeat it, meet a full pool and decode its google.rpc.ErrorInfo (and the
LocalizedMessage in French) from the grpc-status-details-bin trailer, release. Prints one JSON
object per step; exits non-zero at the first step that does not go as expected.

Stubs come from ./generate.sh (protoc >= 3.15 for `optional`; Debian's protobuf-compiler and
grpc_python_plugin, not python3-grpc-tools, which is too old).

usage: seat_client.py GENERATED_DIR ADDRESS HOLDER_TOKEN SECOND_TOKEN
"""
import json
import sys
import uuid

sys.path.insert(0, sys.argv[1])

import grpc  # noqa: E402
from google.rpc import error_details_pb2, status_pb2  # noqa: E402
from licensebroker.v1 import common_pb2, seat_service_pb2, seat_service_pb2_grpc  # noqa: E402

PRODUCT = "remote-support"


def step(name, **values):
    print(json.dumps({"step": name, **values}), flush=True)


def metadata(token, language="en"):
    return (("authorization", "Bearer " + token), ("accept-language", language))


def rich_status(error):
    """google.rpc.Status of a failed call: the trailer grpc-status-details-bin, binary protobuf."""
    for key, value in error.trailing_metadata() or ():
        if key == "grpc-status-details-bin":
            return status_pb2.Status.FromString(value)
    return None


def acquire(stub, token, language="en"):
    request = seat_service_pb2.AcquireSeatRequest(
        product=PRODUCT,
        session_id="py-" + uuid.uuid4().hex[:12],
        device=common_pb2.Device(id="python-box", platform=common_pb2.PLATFORM_LINUX),
        session_kind=common_pb2.SESSION_KIND_PENDING,
    )
    return stub.AcquireSeat(request, metadata=metadata(token, language), timeout=10).lease


def main():
    _, _, address, holder_token, second_token = sys.argv
    with grpc.insecure_channel(address) as channel:
        stub = seat_service_pb2_grpc.SeatServiceStub(channel)

        lease = acquire(stub, holder_token)
        step("acquire", lease_id=lease.lease_id, seat_type=common_pb2.SeatType.Name(lease.seat_type), fencing_token=lease.fencing_token)

        renewed = stub.Heartbeat(
            seat_service_pb2.HeartbeatRequest(
                product=PRODUCT, lease_id=lease.lease_id, session_id=lease.session_id,
                fencing_token=lease.fencing_token, lease_proof=lease.lease_proof,
            ),
            metadata=metadata(holder_token), timeout=10,
        ).lease
        step("heartbeat", lease_id=renewed.lease_id, expires_at=renewed.expires_at.ToJsonString())

        try:
            acquire(stub, second_token, language="fr-FR")
            step("full-pool", error="the second agent got a seat of a full pool")
            return 1
        except grpc.RpcError as error:
            status = rich_status(error)
            info, localized = error_details_pb2.ErrorInfo(), error_details_pb2.LocalizedMessage()
            for detail in status.details if status else ():
                if detail.Is(info.DESCRIPTOR):
                    detail.Unpack(info)
                elif detail.Is(localized.DESCRIPTOR):
                    detail.Unpack(localized)
            step("full-pool", code=error.code().name, reason=info.reason, metadata=dict(info.metadata),
                 message=error.details(), locale=localized.locale, localized=localized.message)

        released = stub.ReleaseSeat(
            seat_service_pb2.ReleaseSeatRequest(product=PRODUCT, lease_id=lease.lease_id),
            metadata=metadata(holder_token), timeout=10,
        ).released
        step("release", released=released)
    return 0


if __name__ == "__main__":
    sys.exit(main())
