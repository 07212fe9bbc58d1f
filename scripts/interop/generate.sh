#!/usr/bin/env bash
# Generates the Python stubs of SeatService (and of google.rpc's status and error details) into $1.
# Needs Debian's protobuf-compiler (>= 3.15, for `optional`) and protobuf-compiler-grpc
# (grpc_python_plugin); ./scripts/test installs them. The google/rpc protos come from the
# Google.Api.CommonProtos NuGet package the contracts already restore.
set -euo pipefail
out="$1"
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
version="$(sed -n 's/.*"Google.Api.CommonProtos" Version="\([^"]*\)".*/\1/p' "$repo/Directory.Packages.props")"
packages="$(dotnet nuget locals global-packages --list | sed 's/^global-packages: *//')"
googleapis="$packages/google.api.commonprotos/$version/content/protos"
[ -f "$googleapis/google/rpc/status.proto" ] || { echo "google/rpc protos not found under $googleapis (run a dotnet restore first)" >&2; exit 1; }
# Well-known types (timestamp, duration, any): Debian's libprotobuf-dev, else the copy inside Grpc.Tools.
wkt=/usr/include
[ -f "$wkt/google/protobuf/timestamp.proto" ] || wkt="$(ls -d "$packages"/grpc.tools/*/build/native/include | sort -V | tail -n 1)"
mkdir -p "$out"
protoc -I "$repo/protos" -I "$googleapis" -I "$wkt" \
  --python_out="$out" --grpc_python_out="$out" --plugin=protoc-gen-grpc_python="$(command -v grpc_python_plugin)" \
  licensebroker/v1/common.proto licensebroker/v1/seat_service.proto licensebroker/v1/entitlement_service.proto \
  google/api/annotations.proto google/api/http.proto google/rpc/status.proto google/rpc/error_details.proto
