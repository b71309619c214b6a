#!/usr/bin/env bash
# Builds the Tandem container image FROM scratch (deploy/Containerfile)
# with the host's Go, so that no base image has to be pulled.
#
#   deploy/build-image.sh            # tags tandem:<version>
#   VERSION=v1.2.0 IMAGE=registry.example/tandem:v1.2.0 ENGINE=docker deploy/build-image.sh
set -euo pipefail
cd "$(dirname "$0")/.."
version=${VERSION:-$(git describe --tags --always --dirty 2>/dev/null || echo devel)}
image=${IMAGE:-tandem:$version}
context=$(mktemp -d)
trap 'rm -rf "$context"' EXIT

# Static, reproducible, version stamped (Go's own VCS stamping is off
# where builds run with -buildvcs=false).
CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=$version" -o "$context/tandem" ./cmd/tandem
cp /etc/ssl/certs/ca-certificates.crt "$context/"
cp deploy/Containerfile "$context/"
# --format docker keeps HEALTHCHECK, which the OCI format has no field for.
"${ENGINE:-podman}" build --format docker -t "$image" -f "$context/Containerfile" "$context"
echo "$image"
