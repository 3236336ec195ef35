# lab/lab.mk: the dockerhosts lab, included by the top-level Makefile
# (`-include lab/lab.mk`). Targets:
#   image       the resolver image (FROM scratch, the static custom CoreDNS + lab/Corefile)
#   lab-images  image + the appsrv image
#   lab-up      build both and start the lab (project $(LAB_PROJECT))
#   lab-down    stop it and remove its containers and network
#   lab-test    the end-to-end test (lab/test.sh): HAProxy on the host follows
#               containers through the resolver; everything it starts is removed
# No registry is needed: every binary is built here with CGO_ENABLED=0.

LAB_DIR        := lab
LAB_BUILD_DIR  := $(LAB_DIR)/.build
LAB_TAG        ?= lab
LAB_PROJECT    ?= dhlab
LAB_RESOLVER_IMAGE ?= dockerhosts/coredns:$(LAB_TAG)
LAB_APPSRV_IMAGE   ?= dockerhosts/appsrv:$(LAB_TAG)
# The binary `make build` leaves at the repository root, and how to make it.
LAB_COREDNS        ?= coredns
LAB_BUILD_COREDNS  ?= CGO_ENABLED=0 $(MAKE) build
# The group owning the Docker socket: the resolver runs as 65532 with it added.
DOCKER_GID     ?= $(shell stat -c %g /var/run/docker.sock 2>/dev/null)
LAB_COMPOSE    ?= $(shell docker-compose version >/dev/null 2>&1 && echo docker-compose || echo docker compose)
LAB_GO_BUILD   := CGO_ENABLED=0 go build -trimpath -ldflags='-s -w'

.PHONY: image lab-images lab-up lab-down lab-test lab-clean

image:
	$(LAB_BUILD_COREDNS)
	@# FROM scratch has no libc: refuse a binary that needs one.
	@go version -m $(LAB_COREDNS) | grep -q 'CGO_ENABLED=0' || \
	  { echo "lab: $(LAB_COREDNS) is not a static (CGO_ENABLED=0) build" >&2; exit 1; }
	rm -rf $(LAB_BUILD_DIR)/resolver && mkdir -p $(LAB_BUILD_DIR)/resolver
	cp $(LAB_COREDNS) $(LAB_BUILD_DIR)/resolver/coredns
	cp $(LAB_DIR)/Corefile $(LAB_DIR)/resolver.Dockerfile $(LAB_BUILD_DIR)/resolver/
	$(LAB_GO_BUILD) -o $(LAB_BUILD_DIR)/resolver/readycheck ./$(LAB_DIR)/readycheck
	docker build -q -t $(LAB_RESOLVER_IMAGE) -f $(LAB_BUILD_DIR)/resolver/resolver.Dockerfile $(LAB_BUILD_DIR)/resolver

lab-images: image
	rm -rf $(LAB_BUILD_DIR)/appsrv && mkdir -p $(LAB_BUILD_DIR)/appsrv
	cp $(LAB_DIR)/appsrv/Dockerfile $(LAB_BUILD_DIR)/appsrv/
	$(LAB_GO_BUILD) -o $(LAB_BUILD_DIR)/appsrv/appsrv ./$(LAB_DIR)/appsrv
	docker build -q -t $(LAB_APPSRV_IMAGE) $(LAB_BUILD_DIR)/appsrv

lab-up: lab-images
	DOCKER_GID=$(DOCKER_GID) LAB_TAG=$(LAB_TAG) $(LAB_COMPOSE) -f $(LAB_DIR)/docker-compose.yml -p $(LAB_PROJECT) up -d

lab-down:
	DOCKER_GID=$(DOCKER_GID) LAB_TAG=$(LAB_TAG) $(LAB_COMPOSE) -f $(LAB_DIR)/docker-compose.yml -p $(LAB_PROJECT) down --volumes --remove-orphans

# test.sh builds the images itself, under a tag unique to the run, so that
# it can remove exactly what it built; it calls back into this makefile.
lab-test:
	LAB_BUILD_IMAGES='$(MAKE) -f $(firstword $(MAKEFILE_LIST)) lab-images' \
	  LAB_COMPOSE='$(LAB_COMPOSE)' DOCKER_GID=$(DOCKER_GID) \
	  bash $(LAB_DIR)/test.sh

lab-clean:
	rm -rf $(LAB_BUILD_DIR)
