# vendor-access: the commands a newcomer needs. `make help` lists them.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
TOOLS := $(VENV)/.installed-$(shell sha1sum tools/requirements.txt | cut -c1-12)
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: help tools build package package-template lambda-targets test lint unit demo bench clean vendors

help:
	@echo "make demo   - run the function end to end against a local AWS stand-in (moto)"
	@echo "make test   - format check, clippy, every test, cfn-lint on the templates, the scanners (make scan)"
	@echo "make build  - debug build of the Lambda binary"
	@echo "make package - release Lambda zips for arm64 and x86_64 and the plain template, in target/package/"
	@echo "make package-template - only the plain CloudFormation template (no SAM transform, code from S3)"
	@echo "make vendors - rewrite docs/vendors.md's table and cdk/src/vendors.ts from the vendor catalog"
	@echo "make tools  - create .venv with the pinned Python tools (moto, cargo-lambda, cfn-lint)"

# The Python tools live in a project-local virtualenv, pinned by tools/requirements.txt.
$(TOOLS): tools/requirements.txt
	rm -rf $(VENV)
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r tools/requirements.txt
	touch $@

tools: $(TOOLS)

build:
	cargo build --bin vendor-access

# What a bucket upload for StackSets, Control Tower or Service Catalog needs (docs/fleet.md),
# in the layout the docs upload as it is (aws s3 sync target/package/ s3://BUCKET/vendor-access/VERSION/):
#   target/package/vendor-access.template.yaml   the plain template, generated from template.yaml
#   target/package/arm64/bootstrap.zip, target/package/x86_64/bootstrap.zip   the Lambda zips
# cargo-lambda cross-compiles with zig, which its PyPI package brings. The zips hold static
# (musl) binaries linked at a fixed address (build.rs): no shared libraries to map, no
# relocations to apply, the smallest resident memory (bench/README.md).
PACKAGE_DIR := target/package
PLAIN_TEMPLATE := $(PACKAGE_DIR)/vendor-access.template.yaml
LAMBDA_BUILD := cargo lambda build --release --bin vendor-access
TARGET_arm64 := aarch64-unknown-linux-musl
TARGET_x86_64 := x86_64-unknown-linux-musl

# The standard libraries of the two Lambda targets (a no-op once they are installed).
lambda-targets:
	rustup target add $(TARGET_arm64) $(TARGET_x86_64)

package: $(TOOLS) package-template lambda-targets
	$(LAMBDA_BUILD) --target $(TARGET_arm64) --output-format zip --lambda-dir target/lambda/arm64
	$(LAMBDA_BUILD) --target $(TARGET_x86_64) --output-format zip --lambda-dir target/lambda/x86_64
	for arch in arm64 x86_64; do mkdir -p $(PACKAGE_DIR)/$$arch && cp target/lambda/$$arch/vendor-access/bootstrap.zip $(PACKAGE_DIR)/$$arch/; done
	@ls -l $(PLAIN_TEMPLATE) $(PACKAGE_DIR)/*/bootstrap.zip

# Cheap (no Rust build): make test writes it too, so it is linted, scanned and tested.
# The CDK construct VendorAccessFunction includes the same template, as JSON, from cdk/template/.
package-template: $(TOOLS)
	$(PY) tools/package_template.py template.yaml $(PLAIN_TEMPLATE)
	$(PY) tools/package_template.py template.yaml cdk/template/vendor-access.template.json

lint: $(TOOLS) package-template
	cargo fmt --all -- --check
	cargo clippy --all-targets -- -D warnings
	$(VENV)/bin/cfn-lint --include-checks I -- template.yaml examples/*.yaml $(PLAIN_TEMPLATE)

unit: $(TOOLS)
	cargo test --all-targets

test: lint unit template-test cdk-test scan

# template.yaml keeps the function fenced: IAM only under /vendor-access/, creation only with
# the permissions boundary, no service wildcards, concurrency only with its lock bucket, ServiceToken exported.
.PHONY: template-test cdk-test scan
template-test: $(TOOLS) package-template
	$(PY) tests/template/test_template.py
	$(PY) tests/template/test_package.py

# The scanners a customer's pipeline runs (docs/ci.md): checkov (.checkov.yaml), cfn-lint's
# informational checks and cfripper (tools/cfripper) on template.yaml, the plain template and
# examples/, each deliberate finding proved to be one. The CDK synth output: cdk-test.
scan: $(TOOLS) package-template
	$(PY) tests/scanners/test_scanners.py

# The CDK constructs (cdk/): compile, synthesize the example app offline, cfn-lint the result.
# npm ci runs only when the lockfile or package.json is newer than the last install.
cdk/node_modules/.package-lock.json: cdk/package-lock.json cdk/package.json
	cd cdk && npm ci --no-audit --no-fund
	touch $@

cdk-test: $(TOOLS) cdk/node_modules/.package-lock.json package-template
	cd cdk && CFN_LINT=$(CURDIR)/$(VENV)/bin/cfn-lint CHECKOV=$(CURDIR)/$(VENV)/bin/checkov npm test


# docs/vendors.md's table and the CDK's vendor types are rendered from src/vendors.rs;
# tests/vendor_catalog.rs fails while they differ.
vendors:
	VENDOR_ACCESS_WRITE_GENERATED=1 cargo test --test vendor_catalog

demo: $(TOOLS) build
	$(PY) tools/demo.py

# Rust beside the Python standard (crhelper + boto3) and a bare lambda_runtime binary: cold
# start, latency, peak RSS, AWS calls, binary sizes; the stack makespan of N resources at once;
# plan's speed. Writes bench/results.md. Options: make bench BENCH_ARGS=--quick (or --stack-only)
# It measures the x86_64 artifact make package ships, and a bare runtime built the same way.
bench: $(TOOLS) lambda-targets
	$(LAMBDA_BUILD) --target $(TARGET_x86_64) --lambda-dir target/lambda/bench
	cargo lambda build --release -p bare-runtime --target $(TARGET_x86_64) --lambda-dir target/lambda/bench
	$(PY) bench/bench.py $(BENCH_ARGS)

clean:
	cargo clean
	rm -rf $(VENV)
