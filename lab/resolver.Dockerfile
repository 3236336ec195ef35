# The lab's resolver: the custom CoreDNS build with the dockerhosts plugin.
# No registry is needed: FROM scratch, static binaries staged by lab/lab.mk
# (`make image`) into the build context next to this file.
FROM scratch
COPY coredns readycheck /
COPY Corefile /etc/coredns/Corefile
# 65532 is the conventional "nonroot" id of distroless images. Reading the
# Docker socket also needs the socket's group: add it at run time
# (compose `group_add: [$DOCKER_GID]`, docker run `--group-add`), it differs
# per host. Binding port 53 as non-root works because Docker (>= 20.10) sets
# net.ipv4.ip_unprivileged_port_start=0 in the container's network namespace.
USER 65532:65532
EXPOSE 53/udp 53/tcp 8080/tcp 8181/tcp 9153/tcp
# /ready answers 200 only once every plugin is ready, and dockerhosts is ready
# only after its first Docker sync, so "healthy" here means "serving names".
HEALTHCHECK --interval=2s --timeout=3s --start-period=5s --retries=3 CMD ["/readycheck", "http://127.0.0.1:8181/ready"]
ENTRYPOINT ["/coredns"]
CMD ["-conf", "/etc/coredns/Corefile"]
