#!/usr/bin/env bash
# Deploys the lakehouse to one environment (see docs/deployment.md):
#   1. the bootstrap stack (KMS key, artifacts and access-log buckets),
#   2. the Glue artifacts: the etl wheel (uv build), the entry script and the pinned extra
#      modules (infrastructure/glue/requirements.txt, rendered from uv.lock), under a
#      content-addressed prefix,
#   3. the main stack: `aws cloudformation package` (uploads the state machine ASL files,
#      encrypted with the environment's key) + a change set.
# Every stack change goes through a change set that is printed, then executed as printed, by
# the environment's CloudFormation service role (templates/access.yaml, --role-arn). --review
# creates and prints the change sets and stops. A stack in a state that cannot be updated
# (ROLLBACK_COMPLETE after a failed first deploy, ...) stops the deploy with what to do.
# Re-running with nothing changed changes nothing. Honours AWS_ENDPOINT_URL, AWS_PROFILE,
# AWS_REGION / AWS_DEFAULT_REGION like any aws CLI call.
#
# Usage: infrastructure/deploy.sh [--dry-run | --review] [--params FILE] <dev|staging|prod>
set -euo pipefail
# aws CLI v2 pipes long output (the outputs table) through a pager, which would wait for a key.
export AWS_PAGER=""

INFRA_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_DIR="$(dirname "$INFRA_DIR")"

# Parameters the parameter file must set, and those this script sets itself.
REQUIRED_PARAMETERS=(ProjectName AlertEmail GlueWorkerCount GlueJobTimeoutMinutes
  AthenaBytesScannedCutoff AthenaResultsRetentionDays LogRetentionDays
  DailyScheduleExpression DailyScheduleState MaintenanceScheduleExpression
  MaintenanceScheduleState)
COMPUTED_PARAMETERS=(Environment KmsKeyArn ArtifactsBucket AccessLogsBucket ArtifactsPrefix WheelFileName)
# Installed on Glue with --additional-python-modules -r (scripts/render_glue_requirements.py).
GLUE_REQUIREMENTS="$INFRA_DIR/glue/requirements.txt"

die() { echo "deploy.sh: error: $*" >&2; exit 1; }
step() { echo "==> $*"; }
usage() { echo "usage: infrastructure/deploy.sh [--dry-run | --review] [--params FILE] <dev|staging|prod>"; }

# run CMD...: runs a command, or with --dry-run prints it (shell-quoted) instead.
run() {
  if [[ "$DRY_RUN" == 1 ]]; then
    printf '+'; printf ' %q' "$@"; printf '\n'
  else
    "$@"
  fi
}

DRY_RUN=0
REVIEW=0
PARAMS_FILE=""
ENVIRONMENT=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --dry-run) DRY_RUN=1 ;;
    --review) REVIEW=1 ;;
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
[[ "$DRY_RUN$REVIEW" != 11 ]] || die "--dry-run and --review exclude each other"
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
ALERT_EMAIL=""
while IFS=$'\t' read -r kind key value; do
  case "$kind" in
    P) PARAMETERS+=("$key=$value"); [[ "$key" != ProjectName ]] || PROJECT="$value"
       [[ "$key" != AlertEmail ]] || ALERT_EMAIL="$value" ;;
    T) TAGS+=("$key=$value") ;;
  esac
done <<< "$parsed"
# The templates' AllowedPattern: at most 11 characters keeps every bucket name within 63.
[[ "$PROJECT" =~ ^[a-z][a-z0-9-]{1,10}$ ]] ||
  die "ProjectName '$PROJECT' in $PARAMS_FILE must match ^[a-z][a-z0-9-]{1,10}$ (bucket names stay within 63 characters)"
[[ "$ENVIRONMENT" != prod || -n "$ALERT_EMAIL" ]] ||
  die "AlertEmail is empty in $PARAMS_FILE: prod needs an address for its alerts"

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

CFN_ROLE_ARN="arn:$PARTITION:iam::$ACCOUNT:role/cloudformation-$PROJECT-$ENVIRONMENT"
if [[ "$DRY_RUN" == 0 ]]; then
  "${AWS[@]}" iam get-role --role-name "cloudformation-$PROJECT-$ENVIRONMENT" >/dev/null 2>&1 ||
    die "no CloudFormation service role cloudformation-$PROJECT-$ENVIRONMENT: an administrator deploys infrastructure/templates/access.yaml first (docs/deployment.md, First deploy)"
fi

# check_stack STACK: "new", "existing", or a one-line error saying what to do for a stack that
# cannot be updated (CloudFormation accepts no change set for it).
check_stack() {
  local stack="$1" status
  [[ "$DRY_RUN" == 0 ]] || { echo existing; return; }
  if ! status=$("${AWS[@]}" cloudformation describe-stacks --stack-name "$stack" \
      --query "Stacks[0].StackStatus" --output text 2>/dev/null); then
    echo new
    return
  fi
  case "$status" in
    REVIEW_IN_PROGRESS) echo new ;;
    CREATE_COMPLETE | UPDATE_COMPLETE | UPDATE_ROLLBACK_COMPLETE | IMPORT_COMPLETE | IMPORT_ROLLBACK_COMPLETE) echo existing ;;
    ROLLBACK_COMPLETE | ROLLBACK_FAILED)
      die "stack $stack is in $status: its first create failed and it can only be deleted. See why: aws cloudformation describe-stack-events --stack-name $stack; then, as an administrator: aws cloudformation delete-stack --stack-name $stack --role-arn $CFN_ROLE_ARN && aws cloudformation wait stack-delete-complete --stack-name $stack; then run deploy.sh again (resources that create made were removed with it: RetainExceptOnCreate)" ;;
    UPDATE_ROLLBACK_FAILED)
      die "stack $stack is in UPDATE_ROLLBACK_FAILED: fix the cause shown by aws cloudformation describe-stack-events --stack-name $stack, run aws cloudformation continue-update-rollback --stack-name $stack --role-arn $CFN_ROLE_ARN, wait for UPDATE_ROLLBACK_COMPLETE, then run deploy.sh again" ;;
    DELETE_FAILED | DELETE_COMPLETE)
      die "stack $stack is in $status: an administrator finishes deleting it (aws cloudformation delete-stack --stack-name $stack --role-arn $CFN_ROLE_ARN), then run deploy.sh again" ;;
    *_IN_PROGRESS)
      die "stack $stack is in $status: another deploy or rollback is running; wait for it (aws cloudformation wait stack-update-complete --stack-name $stack) and run deploy.sh again" ;;
    *) die "stack $stack is in $status, which deploy.sh does not handle; see aws cloudformation describe-stack-events --stack-name $stack" ;;
  esac
}

# deploy_stack STACK ARGS...: creates a change set with `aws cloudformation deploy
# --no-execute-changeset ARGS` (as the CloudFormation service role), prints it, and, unless
# --review, executes exactly that change set and waits for it. No change set when nothing
# changed ("No updates are to be performed" is CloudFormation's wording for that, which some
# emulators return from CreateChangeSet).
deploy_stack() {
  local stack="$1"; shift
  local kind out arn
  kind=$(check_stack "$stack") || exit 1
  if [[ "$DRY_RUN" == 1 ]]; then
    run "${AWS[@]}" cloudformation deploy --stack-name "$stack" --role-arn "$CFN_ROLE_ARN" "$@" \
      --no-execute-changeset --no-fail-on-empty-changeset
    echo "+ then: describe-change-set (printed), execute-change-set, wait, update-termination-protection"
    return
  fi
  out=$(mktemp)
  if ! "${AWS[@]}" cloudformation deploy --stack-name "$stack" --role-arn "$CFN_ROLE_ARN" "$@" \
      --no-execute-changeset --no-fail-on-empty-changeset >"$out" 2>&1; then
    if grep -q "No updates are to be performed" "$out"; then
      rm -f "$out"; echo "No changes to deploy. Stack $stack is up to date"; return
    fi
    cat "$out" >&2; rm -f "$out"
    die "could not create a change set for $stack (see above)"
  fi
  if grep -q "No changes to deploy" "$out"; then
    rm -f "$out"; echo "No changes to deploy. Stack $stack is up to date"; return
  fi
  arn=$(grep -o "arn:[^ ]*:changeSet/[^ ]*" "$out" | head -n 1)
  rm -f "$out"
  [[ -n "$arn" ]] || die "no change set ARN in the output of aws cloudformation deploy for $stack"
  echo "change set for $stack ($kind stack): $arn"
  "${AWS[@]}" cloudformation describe-change-set --change-set-name "$arn" \
    --query "Changes[].ResourceChange.[Action,LogicalResourceId,ResourceType,Replacement]" --output table
  if [[ "$REVIEW" == 1 ]]; then
    echo "review only: to apply exactly this change set, run aws cloudformation execute-change-set --change-set-name $arn (or deploy.sh $ENVIRONMENT, which makes and applies a fresh one)"
    REVIEWED+=("$arn")
    return
  fi
  "${AWS[@]}" cloudformation execute-change-set --change-set-name "$arn"
  if [[ "$kind" == new ]]; then
    "${AWS[@]}" cloudformation wait stack-create-complete --stack-name "$stack" ||
      die "creating $stack failed: see aws cloudformation describe-stack-events --stack-name $stack; then run deploy.sh again, which says what to do"
  else
    "${AWS[@]}" cloudformation wait stack-update-complete --stack-name "$stack" ||
      die "updating $stack failed and was rolled back: see aws cloudformation describe-stack-events --stack-name $stack"
  fi
  echo "Successfully created/updated stack - $stack"
  # Deleting an environment's stack is an administrator's deliberate act (docs/deployment.md).
  "${AWS[@]}" cloudformation update-termination-protection --enable-termination-protection \
    --stack-name "$stack" >/dev/null 2>&1 ||
    echo "deploy.sh: warning: could not enable termination protection on $stack" >&2
}
REVIEWED=()

# The main stack's resources carry the environment's tag. The bootstrap stack has no stack
# tags: they would be applied to the data key at its creation, which would need kms:TagResource.
TAGS+=("lakehouse:environment=$PROJECT-$ENVIRONMENT")
tag_args=(--tags "${TAGS[@]}")

# --------------------------------------------------------------------------- 1. bootstrap
step "bootstrap stack $BOOTSTRAP_STACK"
deploy_stack "$BOOTSTRAP_STACK" \
  --template-file "$INFRA_DIR/templates/bootstrap.yaml" \
  --parameter-overrides "ProjectName=$PROJECT" "Environment=$ENVIRONMENT"
# The bootstrap resources have fixed names (templates/bootstrap.yaml); the key is found through
# its alias. Stack outputs would do as well on AWS, but not every emulator reports them.
ARTIFACTS_BUCKET="$PROJECT-$ENVIRONMENT-$ACCOUNT-$REGION-artifacts"
ACCESS_LOGS_BUCKET="$PROJECT-$ENVIRONMENT-$ACCOUNT-$REGION-access-logs"
if [[ "$DRY_RUN" == 1 ]]; then
  KMS_KEY_ARN="arn:$PARTITION:kms:$REGION:$ACCOUNT:key/KEY_ID_OF_alias/$PROJECT-$ENVIRONMENT-data"
else
  key_id=$("${AWS[@]}" kms list-aliases \
    --query "Aliases[?AliasName=='alias/$PROJECT-$ENVIRONMENT-data'].TargetKeyId" --output text)
  if [[ -z "$key_id" || "$key_id" == None ]]; then
    [[ "$REVIEW" == 1 ]] && { echo "review only: the main stack's change set follows once the bootstrap stack exists"; exit 0; }
    die "no KMS key alias/$PROJECT-$ENVIRONMENT-data"
  fi
  KMS_KEY_ARN="arn:$PARTITION:kms:$REGION:$ACCOUNT:key/$key_id"
fi

# --------------------------------------------------------------------------- 2. Glue artifacts
step "building the etl wheel and the Glue artifacts in $BUILD_DIR"
GLUE_DIR="$BUILD_DIR/glue"
if [[ "$DRY_RUN" == 1 ]]; then
  run uv build --wheel --out-dir "$BUILD_DIR/dist" "$REPO_DIR"
  run uv run --frozen python "$REPO_DIR/scripts/render_glue_requirements.py" --check
  WHEEL_NAME="etl-VERSION-py3-none-any.whl"
  ARTIFACTS_PREFIX="glue/SHA256_OF_ARTIFACTS"  # first 12 hex digits of wheel + run_job.py + requirements.txt
else
  (cd "$REPO_DIR" && uv run --frozen python scripts/render_glue_requirements.py --check >/dev/null) ||
    die "infrastructure/glue/requirements.txt differs from uv.lock: run uv run python scripts/render_glue_requirements.py"
  rm -rf "$BUILD_DIR"
  mkdir -p "$GLUE_DIR"
  # uv writes a .gitignore next to the wheel: build elsewhere, upload only the wheel.
  uv build --quiet --wheel --out-dir "$BUILD_DIR/dist" "$REPO_DIR"
  wheels=("$BUILD_DIR"/dist/*.whl)
  [[ ${#wheels[@]} -eq 1 && -f "${wheels[0]}" ]] || die "uv build produced no single wheel in $BUILD_DIR/dist"
  WHEEL_NAME="$(basename "${wheels[0]}")"
  cp "${wheels[0]}" "$GLUE_DIR/"
  cp "$INFRA_DIR/glue/run_job.py" "$GLUE_DIR/run_job.py"
  cp "$GLUE_REQUIREMENTS" "$GLUE_DIR/requirements.txt"
  # Content-addressed: the same code gives the same prefix, so a re-deploy changes nothing.
  digest=$(cat "${wheels[0]}" "$GLUE_DIR/run_job.py" "$GLUE_DIR/requirements.txt" | sha256sum | cut -c1-12)
  ARTIFACTS_PREFIX="glue/$digest"
fi
step "uploading the Glue artifacts to s3://$ARTIFACTS_BUCKET/$ARTIFACTS_PREFIX/"
run "${AWS[@]}" s3 cp --recursive --only-show-errors --sse aws:kms --sse-kms-key-id "$KMS_KEY_ARN" \
  "$GLUE_DIR/" "s3://$ARTIFACTS_BUCKET/$ARTIFACTS_PREFIX/"

# --------------------------------------------------------------------------- 3. main stack
step "packaging and deploying stack $STACK"
PACKAGED="$BUILD_DIR/lakehouse.packaged.yaml"
[[ "$DRY_RUN" == 1 ]] || mkdir -p "$BUILD_DIR"
# Uploads the ASL files and (deploy) the packaged template, encrypted with the data key.
run "${AWS[@]}" cloudformation package \
  --template-file "$INFRA_DIR/templates/lakehouse.yaml" \
  --s3-bucket "$ARTIFACTS_BUCKET" \
  --s3-prefix cloudformation \
  --kms-key-id "$KMS_KEY_ARN" \
  --output-template-file "$PACKAGED"
deploy_stack "$STACK" \
  --template-file "$PACKAGED" \
  --s3-bucket "$ARTIFACTS_BUCKET" \
  --s3-prefix cloudformation \
  --kms-key-id "$KMS_KEY_ARN" \
  --capabilities CAPABILITY_NAMED_IAM \
  --parameter-overrides "${PARAMETERS[@]}" \
  "Environment=$ENVIRONMENT" \
  "KmsKeyArn=$KMS_KEY_ARN" \
  "ArtifactsBucket=$ARTIFACTS_BUCKET" \
  "AccessLogsBucket=$ACCESS_LOGS_BUCKET" \
  "ArtifactsPrefix=$ARTIFACTS_PREFIX" \
  "WheelFileName=$WHEEL_NAME" \
  "${tag_args[@]}"

if [[ "$REVIEW" == 1 ]]; then
  step "review only: ${#REVIEWED[@]} change set(s) created and not executed"
  exit 0
fi
step "outputs of $STACK"
run "${AWS[@]}" cloudformation describe-stacks --stack-name "$STACK" \
  --query "Stacks[0].Outputs[].[OutputKey,OutputValue]" --output table
