# syntax=docker/dockerfile:1
# The aggregator (localrun) and the load generator (publisher) as static
# binaries in a small image that runs as an unprivileged user.
#   docker build -t logagg:local --build-arg VERSION=$(git describe --tags --always) .

# Keep in step with go.mod's go directive (the image does not fetch toolchains).
ARG GO_VERSION=1.26.8

FROM golang:${GO_VERSION}-alpine AS build
WORKDIR /src
ENV CGO_ENABLED=0 GOFLAGS=-trimpath
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
ARG VERSION=dev
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    go build -ldflags "-s -w -X github.com/logagg/logagg/shared/app.Version=${VERSION}" -o /out/localrun ./localrun && \
    go build -ldflags "-s -w" -o /out/publisher ./publisher

FROM alpine:3.22
# busybox wget serves the compose healthcheck; nothing else is added.
RUN addgroup -S -g 10001 logagg && adduser -S -D -H -u 10001 -G logagg -s /sbin/nologin logagg
COPY --from=build /out/localrun /out/publisher /usr/local/bin/
USER 10001:10001
ENV PORT=8080
EXPOSE 8080
# SIGTERM makes localrun finish and acknowledge its in-flight batches.
STOPSIGNAL SIGTERM
ENTRYPOINT ["localrun"]
