#!/usr/bin/env bash
# Deploys the lakehouse to one environment (see docs/deployment.md):
#   1. the bootstrap stack (KMS key, artifacts and access-log buckets),
#   2. the Glue artifacts: the etl wheel (uv build), the entry script and the pinned extra
#      modules (requirements.txt from uv.lock), under a content-addressed prefix,
#   3. the main stack: `aws cloudformation package` (uploads the state machine ASL) + `deploy`.
# Re-running with nothing changed changes nothing. Honours AWS_ENDPOINT_URL, AWS_PROFILE,
# AWS_REGION / AWS_DEFAULT_REGION like any aws CLI call.
#
# Usage: infrastructure/deploy.sh [--dry-run] [--params FILE] <dev|staging|prod>
set -euo pipefail
# aws CLI v2 pipes long output (the outputs table) through a pager, which would wait for a key.
export AWS_PAGER=""

INFRA_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_DIR="$(dirname "$INFRA_DIR")"

# Parameters the parameter file must set, and those this script sets itself.
REQUIRED_PARAMETERS=(ProjectName AlertEmail GlueWorkerCount GlueJobTimeoutMinutes
  AthenaBytesScannedCutoff AthenaResultsRetentionDays LogRetentionDays
  DailyScheduleExpression DailyScheduleState)
COMPUTED_PARAMETERS=(Environment KmsKeyArn ArtifactsBucket AccessLogsBucket ArtifactsPrefix WheelFileName)
# Installed on Glue with --additional-python-modules, at the versions pinned in uv.lock.
GLUE_EXTRA_MODULES=(deltalake python-calamine great-expectations openpyxl)

die() { echo "deploy.sh: error: $*" >&2; exit 1; }
step() { echo "==> $*"; }
usage() { echo "usage: infrastructure/deploy.sh [--dry-run] [--params FILE] <dev|staging|prod>"; }

# run CMD...: runs a command, or with --dry-run prints it (shell-quoted) instead.
run() {
  if [[ "$DRY_RUN" == 1 ]]; then
    printf '+'; printf ' %q' "$@"; printf '\n'
  else
    "$@"
  fi
}

DRY_RUN=0
PARAMS_FILE=""
ENVIRONMENT=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --dry-run) DRY_RUN=1 ;;
    --params)
      [[ $# -ge 2 ]] || die "--params needs a file"
      PARAMS_FILE="$2"; shift ;;
    -h | --help) usage; exit 0 ;;
    -*) die "unknown option $1 ($(usage))" ;;
    *)
      [[ -z "$ENVIRONMENT" ]] || die "one environment only ($(usage))"
      ENVIRONMENT="$1" ;;
  esac
  shift
done
[[ -n "$ENVIRONMENT" ]] || die "missing environment ($(usage))"
PARAMS_FILE="${PARAMS_FILE:-$INFRA_DIR/parameters/$ENVIRONMENT.json}"
[[ -f "$PARAMS_FILE" ]] || die "no parameter file $PARAMS_FILE"

command -v aws >/dev/null 2>&1 ||
  die "the aws CLI is not on PATH (install it: 'uv sync' puts it in .venv/bin, or see docs/deployment.md)"
command -v python3 >/dev/null 2>&1 || die "python3 is not on PATH (needed to read $PARAMS_FILE)"
if [[ "$DRY_RUN" == 0 ]]; then
  command -v uv >/dev/null 2>&1 || die "uv is not on PATH (needed to build the etl wheel)"
fi

# The parameter file uses CloudFormation's template-configuration format:
# {"Parameters": {"Key": "Value", ...}, "Tags": {"Key": "Value", ...}}
# Prints one "P|T<TAB>key<TAB>value" line per parameter and tag, or a one-line error.
parsed=$(python3 - "$PARAMS_FILE" "${REQUIRED_PARAMETERS[*]}" "${COMPUTED_PARAMETERS[*]}" <<'EOF'
import json
import sys

path, required, computed = sys.argv[1], sys.argv[2].split(), sys.argv[3].split()
try:
    with open(path) as f:
        config = json.load(f)
    params, tags = config.get("Parameters", {}), config.get("Tags", {})
    assert isinstance(params, dict) and isinstance(tags, dict)
except (OSError, ValueError, AssertionError, AttributeError) as e:
    sys.exit(f"deploy.sh: error: {path} is not a {{\"Parameters\": {{...}}, \"Tags\": {{...}}}} JSON file ({e})")
missing = [k for k in required if k not in params]
if missing:
    sys.exit(f"deploy.sh: error: {path} is missing required parameter(s): {', '.join(missing)}")
clashing = [k for k in computed if k in params]
if clashing:
    sys.exit(f"deploy.sh: error: {path} sets {', '.join(clashing)}, which deploy.sh computes itself")
if "lakehouse:environment" in tags:
    sys.exit(f"deploy.sh: error: {path} sets the tag lakehouse:environment, which deploy.sh sets itself")
for kind, items in (("P", params), ("T", tags)):
    for key, value in items.items():
        print(f"{kind}\t{key}\t{value}")
EOF
) || exit 1
PARAMETERS=()
TAGS=()
PROJECT=""
while IFS=$'\t' read -r kind key value; do
  case "$kind" in
    P) PARAMETERS+=("$key=$value"); [[ "$key" != ProjectName ]] || PROJECT="$value" ;;
    T) TAGS+=("$key=$value") ;;
  esac
done <<< "$parsed"
[[ "$PROJECT" =~ ^[a-z][a-z0-9-]{1,20}$ ]] || die "ProjectName '$PROJECT' in $PARAMS_FILE must match ^[a-z][a-z0-9-]{1,20}$"

REGION="${AWS_REGION:-${AWS_DEFAULT_REGION:-$(aws configure get region 2>/dev/null || true)}}"
[[ -n "$REGION" ]] || die "no AWS region: set AWS_REGION (or AWS_DEFAULT_REGION, or 'aws configure set region ...')"
AWS=(aws --region "$REGION")

BOOTSTRAP_STACK="$PROJECT-$ENVIRONMENT-bootstrap"
STACK="$PROJECT-$ENVIRONMENT"
BUILD_DIR="$REPO_DIR/build/deploy/$ENVIRONMENT"

ACCOUNT="ACCOUNT_ID"
PARTITION="aws"
if [[ "$DRY_RUN" == 1 ]]; then
  step "dry run: environment $ENVIRONMENT, region $REGION, parameters from $PARAMS_FILE; nothing is built or changed"
else
  if ! identity=$("${AWS[@]}" sts get-caller-identity --query Arn --output text 2>&1); then
    die "no usable AWS credentials ($(echo "$identity" | grep -v '^[[:space:]]*$' | tail -n 1))"
  fi
  # arn:<partition>:iam::<account>:...
  PARTITION=$(cut -d: -f2 <<< "$identity")
  ACCOUNT=$(cut -d: -f5 <<< "$identity")
  step "deploying $ENVIRONMENT to account $ACCOUNT, region $REGION${AWS_ENDPOINT_URL:+, endpoint $AWS_ENDPOINT_URL}"
fi

# cfn_deploy ARGS...: `aws cloudformation deploy ARGS --no-fail-on-empty-changeset`, where an
# unchanged stack is success also when the API answers "No updates are to be performed"
# (CloudFormation's wording for it, which some emulators return from CreateChangeSet).
cfn_deploy() {
  if [[ "$DRY_RUN" == 1 ]]; then
    run "${AWS[@]}" cloudformation deploy "$@" --no-fail-on-empty-changeset
    return
  fi
  local out
  out=$(mktemp)
  if "${AWS[@]}" cloudformation deploy "$@" --no-fail-on-empty-changeset 2>&1 | tee "$out"; then
    rm -f "$out"
  elif grep -q "No updates are to be performed" "$out"; then
    rm -f "$out"
    echo "No changes to deploy. Stack is up to date"
  else
    rm -f "$out"
    die "aws cloudformation deploy failed (see above)"
  fi
}

# Every resource of both stacks carries the environment's tag: the GitHub deploy role may manage
# only the KMS key that has it (templates/github_oidc.yaml), and it groups the environment's costs.
TAGS+=("lakehouse:environment=$PROJECT-$ENVIRONMENT")
tag_args=(--tags "${TAGS[@]}")

# --------------------------------------------------------------------------- 1. bootstrap
step "bootstrap stack $BOOTSTRAP_STACK"
cfn_deploy \
  --stack-name "$BOOTSTRAP_STACK" \
  --template-file "$INFRA_DIR/templates/bootstrap.yaml" \
  --parameter-overrides "ProjectName=$PROJECT" "Environment=$ENVIRONMENT" \
  "${tag_args[@]}"
# The bootstrap resources have fixed names (templates/bootstrap.yaml); the key is found through
# its alias. Stack outputs would do as well on AWS, but not every emulator reports them.
ARTIFACTS_BUCKET="$PROJECT-$ENVIRONMENT-$ACCOUNT-$REGION-artifacts"
ACCESS_LOGS_BUCKET="$PROJECT-$ENVIRONMENT-$ACCOUNT-$REGION-access-logs"
if [[ "$DRY_RUN" == 1 ]]; then
  KMS_KEY_ARN="arn:$PARTITION:kms:$REGION:$ACCOUNT:key/KEY_ID_OF_alias/$PROJECT-$ENVIRONMENT-data"
else
  key_id=$("${AWS[@]}" kms list-aliases \
    --query "Aliases[?AliasName=='alias/$PROJECT-$ENVIRONMENT-data'].TargetKeyId" --output text)
  [[ -n "$key_id" && "$key_id" != None ]] || die "no KMS key alias/$PROJECT-$ENVIRONMENT-data"
  KMS_KEY_ARN="arn:$PARTITION:kms:$REGION:$ACCOUNT:key/$key_id"
fi

# --------------------------------------------------------------------------- 2. Glue artifacts
step "building the etl wheel and the Glue artifacts in $BUILD_DIR"
GLUE_DIR="$BUILD_DIR/glue"
if [[ "$DRY_RUN" == 1 ]]; then
  run uv build --wheel --out-dir "$BUILD_DIR/dist" "$REPO_DIR"
  echo "+ uv export --frozen --no-dev --no-hashes ... | grep pins of ${GLUE_EXTRA_MODULES[*]} > $GLUE_DIR/requirements.txt"
  WHEEL_NAME="etl-VERSION-py3-none-any.whl"
  ARTIFACTS_PREFIX="glue/SHA256_OF_ARTIFACTS"  # first 12 hex digits of wheel + run_job.py + requirements.txt
else
  rm -rf "$BUILD_DIR"
  mkdir -p "$GLUE_DIR"
  # uv writes a .gitignore next to the wheel: build elsewhere, upload only the wheel.
  uv build --quiet --wheel --out-dir "$BUILD_DIR/dist" "$REPO_DIR"
  wheels=("$BUILD_DIR"/dist/*.whl)
  [[ ${#wheels[@]} -eq 1 && -f "${wheels[0]}" ]] || die "uv build produced no single wheel in $BUILD_DIR/dist"
  WHEEL_NAME="$(basename "${wheels[0]}")"
  cp "${wheels[0]}" "$GLUE_DIR/"
  cp "$INFRA_DIR/glue/run_job.py" "$GLUE_DIR/run_job.py"
  pattern="^($(IFS='|'; echo "${GLUE_EXTRA_MODULES[*]}"))=="
  (cd "$REPO_DIR" && uv export --quiet --frozen --no-dev --no-hashes --no-header --no-annotate \
    --no-emit-project) | grep -E "$pattern" > "$GLUE_DIR/requirements.txt" || true
  [[ $(wc -l < "$GLUE_DIR/requirements.txt") -eq ${#GLUE_EXTRA_MODULES[@]} ]] ||
    die "uv.lock does not pin all of ${GLUE_EXTRA_MODULES[*]} (got: $(tr '\n' ' ' < "$GLUE_DIR/requirements.txt"))"
  # Content-addressed: the same code gives the same prefix, so a re-deploy changes nothing.
  digest=$(cat "${wheels[0]}" "$GLUE_DIR/run_job.py" "$GLUE_DIR/requirements.txt" | sha256sum | cut -c1-12)
  ARTIFACTS_PREFIX="glue/$digest"
fi
step "uploading the Glue artifacts to s3://$ARTIFACTS_BUCKET/$ARTIFACTS_PREFIX/"
run "${AWS[@]}" s3 cp --recursive --only-show-errors "$GLUE_DIR/" "s3://$ARTIFACTS_BUCKET/$ARTIFACTS_PREFIX/"

# --------------------------------------------------------------------------- 3. main stack
step "packaging and deploying stack $STACK"
PACKAGED="$BUILD_DIR/lakehouse.packaged.yaml"
[[ "$DRY_RUN" == 1 ]] || mkdir -p "$BUILD_DIR"
run "${AWS[@]}" cloudformation package \
  --template-file "$INFRA_DIR/templates/lakehouse.yaml" \
  --s3-bucket "$ARTIFACTS_BUCKET" \
  --s3-prefix cloudformation \
  --output-template-file "$PACKAGED"
cfn_deploy \
  --stack-name "$STACK" \
  --template-file "$PACKAGED" \
  --s3-bucket "$ARTIFACTS_BUCKET" \
  --s3-prefix cloudformation \
  --capabilities CAPABILITY_NAMED_IAM \
  --parameter-overrides "${PARAMETERS[@]}" \
  "Environment=$ENVIRONMENT" \
  "KmsKeyArn=$KMS_KEY_ARN" \
  "ArtifactsBucket=$ARTIFACTS_BUCKET" \
  "AccessLogsBucket=$ACCESS_LOGS_BUCKET" \
  "ArtifactsPrefix=$ARTIFACTS_PREFIX" \
  "WheelFileName=$WHEEL_NAME" \
  "${tag_args[@]}"

step "outputs of $STACK"
run "${AWS[@]}" cloudformation describe-stacks --stack-name "$STACK" \
  --query "Stacks[0].Outputs[].[OutputKey,OutputValue]" --output table
