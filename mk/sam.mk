# Serverless packaging: the targets `sam build` calls for each function of
# template.yaml (BuildMethod: makefile runs `make build-<LogicalId>` with
# ARTIFACTS_DIR set), the Lambda Runtime Interface Emulator, and invocation
# of a function's real bootstrap under it with a stub event from events/.
.PHONY: build-PublishFunction build-ConsumeFunction build-QueryFunction build-MaintainFunction lambda rie invoke deploy

# Lambda runs the functions on Graviton (Architectures: [arm64]).
LAMBDA_GOARCH ?= arm64
# Where a bootstrap goes: sam build's ARTIFACTS_DIR, else bin/lambda/<function>.
lambda_out = $(or $(ARTIFACTS_DIR),bin/lambda/$(1))
# A static binary named bootstrap, without the RPC runtime: what provided.al2023 runs.
define lambda_build
	@mkdir -p $(call lambda_out,$(1))
	CGO_ENABLED=0 GOOS=linux GOARCH=$(LAMBDA_GOARCH) $(GO) build -trimpath -tags lambda.norpc \
		-ldflags '$(LDFLAGS)' -o $(call lambda_out,$(1))/bootstrap ./functions/$(1)
endef

build-PublishFunction: ## sam build: the publish function's bootstrap (linux/arm64) in ARTIFACTS_DIR
	$(call lambda_build,publish)

build-ConsumeFunction: ## sam build: the consume function's bootstrap (linux/arm64) in ARTIFACTS_DIR
	$(call lambda_build,consume)

build-QueryFunction: ## sam build: the query function's bootstrap (linux/arm64) in ARTIFACTS_DIR
	$(call lambda_build,query)

build-MaintainFunction: ## sam build: the maintain function's bootstrap (linux/arm64) in ARTIFACTS_DIR
	$(call lambda_build,maintain)

lambda: build-PublishFunction build-ConsumeFunction build-QueryFunction build-MaintainFunction ## Build the four Lambda bootstraps into bin/lambda/<function>/

# The emulator that `sam local` runs in its container, built from source.
RIE_PACKAGE := github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie
RIE_VERSION := v0.0.0-20261030222936-bef5c4ba774d
RIE := $(CURDIR)/bin/tools/aws-lambda-rie

rie: ## Install the AWS Lambda Runtime Interface Emulator into bin/tools
	@GOBIN=$(CURDIR)/bin/tools CGO_ENABLED=0 $(GO) install $(RIE_PACKAGE)@$(RIE_VERSION)

FN ?= consume
EVENT ?= events/consume-sqs.json
INVOKE_TIMEOUT ?= 30

invoke: rie ## Invoke FN's real bootstrap with EVENT under the emulator, against the local PostgreSQL and Redis (FN=consume EVENT=events/consume-sqs.json)
	@$(GO) run ./functions/internal/invoke -fn '$(FN)' -event '$(EVENT)' -rie '$(RIE)' \
		-timeout $(INVOKE_TIMEOUT) -create-database

deploy: ## Build with SAM and deploy to AWS, asking for the parameters (needs the SAM CLI and credentials)
	sam build && sam deploy --guided
