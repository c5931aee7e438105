#!/usr/bin/env bash
# Smoke run of a deployed environment (see docs/deployment.md): uploads the sample source files
# of data/ to s3://<landing>/raw/<batch_id>/, starts the pipeline on exactly those files and
# waits for the execution to end. Exits 0 only when it SUCCEEDED having processed every
# uploaded file (its output says so), which on AWS includes the three layers' Glue runs and the
# pipeline's own check that every gold table has rows (CheckGold → GoldHasRows).
#
# No _SUCCESS marker is written: the execution is started here, with the file list, so its ARN
# is known; a marker would start a second execution for the same folder. An execution still
# running at --timeout is left running (stopping it mid-batch would leave its lock behind).
# Honours AWS_ENDPOINT_URL, AWS_PROFILE, AWS_REGION / AWS_DEFAULT_REGION like deploy.sh.
#
# Usage: infrastructure/smoke_run.sh [--dry-run] [--params FILE] [--data-dir DIR]
#          [--batch-id ID] [--timeout SECONDS] [--poll-interval SECONDS] <dev|staging|prod>
set -euo pipefail
export AWS_PAGER=""

INFRA_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_DIR="$(dirname "$INFRA_DIR")"

die() { echo "smoke_run.sh: error: $*" >&2; exit 1; }
step() { echo "==> $*"; }
usage() {
  echo "usage: infrastructure/smoke_run.sh [--dry-run] [--params FILE] [--data-dir DIR]" \
    "[--batch-id ID] [--timeout SECONDS] [--poll-interval SECONDS] <dev|staging|prod>"
}
run() {
  if [[ "$DRY_RUN" == 1 ]]; then
    printf '+'; printf ' %q' "$@"; printf '\n'
  else
    "$@"
  fi
}

DRY_RUN=0
PARAMS_FILE=""
DATA_DIR="$REPO_DIR/data"
BATCH_ID="smoke-$(date -u +%Y%m%dT%H%M%SZ)"
TIMEOUT=3600
POLL_INTERVAL=15
ENVIRONMENT=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --dry-run) DRY_RUN=1 ;;
    --params | --data-dir | --batch-id | --timeout | --poll-interval)
      [[ $# -ge 2 ]] || die "$1 needs a value"
      case "$1" in
        --params) PARAMS_FILE="$2" ;;
        --data-dir) DATA_DIR="$2" ;;
        --batch-id) BATCH_ID="$2" ;;
        --timeout) TIMEOUT="$2" ;;
        --poll-interval) POLL_INTERVAL="$2" ;;
      esac
      shift ;;
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
[[ "$BATCH_ID" =~ ^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$ ]] ||
  die "batch id '$BATCH_ID' must match ^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$ (it names a folder and the execution)"
[[ "$TIMEOUT" =~ ^[0-9]+$ && "$POLL_INTERVAL" =~ ^[1-9][0-9]*$ ]] ||
  die "--timeout and --poll-interval take whole seconds"
[[ -d "$DATA_DIR" ]] || die "no data directory $DATA_DIR"

command -v aws >/dev/null 2>&1 ||
  die "the aws CLI is not on PATH (install it: 'uv sync' puts it in .venv/bin, or see docs/deployment.md)"
command -v python3 >/dev/null 2>&1 || die "python3 is not on PATH (needed to read $PARAMS_FILE)"

PROJECT=$(python3 - "$PARAMS_FILE" <<'EOF'
import json
import sys

try:
    with open(sys.argv[1]) as f:
        print(json.load(f)["Parameters"]["ProjectName"])
except (OSError, ValueError, KeyError, TypeError) as e:
    sys.exit(f"smoke_run.sh: error: no Parameters.ProjectName in {sys.argv[1]} ({e!r})")
EOF
) || exit 1

# The source files the pipeline reads (etl.sources.SUFFIXES); data/ also holds a test manifest.
FILES=()
while IFS= read -r -d '' file; do
  FILES+=("$file")
done < <(find "$DATA_DIR" -maxdepth 1 -type f \
  \( -iname '*.csv' -o -iname '*.xlsx' -o -iname '*.xlsm' -o -iname '*.xls' \) -print0 | sort -z)
[[ ${#FILES[@]} -gt 0 ]] || die "no source files (*.csv, *.xlsx, *.xlsm, *.xls) in $DATA_DIR"

REGION="${AWS_REGION:-${AWS_DEFAULT_REGION:-$(aws configure get region 2>/dev/null || true)}}"
[[ -n "$REGION" ]] || die "no AWS region: set AWS_REGION (or AWS_DEFAULT_REGION, or 'aws configure set region ...')"
AWS=(aws --region "$REGION")

ACCOUNT="ACCOUNT_ID"
PARTITION="aws"
if [[ "$DRY_RUN" == 1 ]]; then
  step "dry run: environment $ENVIRONMENT, region $REGION; nothing is uploaded or started"
else
  if ! identity=$("${AWS[@]}" sts get-caller-identity --query Arn --output text 2>&1); then
    die "no usable AWS credentials ($(echo "$identity" | grep -v '^[[:space:]]*$' | tail -n 1))"
  fi
  PARTITION=$(cut -d: -f2 <<< "$identity")
  ACCOUNT=$(cut -d: -f5 <<< "$identity")
fi

# Fixed names, as templates/lakehouse.yaml gives them.
LANDING_BUCKET="$PROJECT-$ENVIRONMENT-$ACCOUNT-$REGION-landing"
STATE_MACHINE_ARN="arn:$PARTITION:states:$REGION:$ACCOUNT:stateMachine:$PROJECT-$ENVIRONMENT-pipeline"
PREFIX="s3://$LANDING_BUCKET/raw/$BATCH_ID"

# One upload for all files: the folder, filtered to exactly the chosen names (glob characters
# in a name are escaped, so each pattern matches that one top-level file).
FILTERS=(--exclude "*")
URIS=()
for file in "${FILES[@]}"; do
  name="$(basename "$file")"
  FILTERS+=(--include "$(sed -e 's/\[/[[]/g' -e 's/\*/[*]/g' -e 's/?/[?]/g' <<< "$name")")
  URIS+=("$PREFIX/$name")
done
step "uploading ${#FILES[@]} sample files to $PREFIX/"
run "${AWS[@]}" s3 cp --recursive --only-show-errors "$DATA_DIR/" "$PREFIX/" "${FILTERS[@]}"

INPUT=$(python3 -c 'import json, sys; print(json.dumps({"batch_id": sys.argv[1], "files": sys.argv[2:]}))' \
  "$BATCH_ID" "${URIS[@]}")
step "starting $STATE_MACHINE_ARN with $INPUT"
if [[ "$DRY_RUN" == 1 ]]; then
  run "${AWS[@]}" stepfunctions start-execution --state-machine-arn "$STATE_MACHINE_ARN" \
    --name "$BATCH_ID" --input "$INPUT"
  echo "+ then every ${POLL_INTERVAL}s, for at most ${TIMEOUT}s:" \
    "${AWS[*]} stepfunctions describe-execution --execution-arn EXECUTION_ARN"
  exit 0
fi
EXECUTION_ARN=$("${AWS[@]}" stepfunctions start-execution --state-machine-arn "$STATE_MACHINE_ARN" \
  --name "$BATCH_ID" --input "$INPUT" --query executionArn --output text) ||
  die "could not start an execution of $STATE_MACHINE_ARN (see above)"
step "execution $EXECUTION_ARN"

started=$SECONDS
deadline=$((started + TIMEOUT))
while :; do
  execution=$("${AWS[@]}" stepfunctions describe-execution --execution-arn "$EXECUTION_ARN" \
    --output json)
  status=$(python3 -c 'import json, sys; print(json.load(sys.stdin)["status"])' <<< "$execution")
  [[ "$status" == RUNNING || "$status" == PENDING_REDRIVE ]] || break
  if ((SECONDS >= deadline)); then
    die "execution still $status after ${TIMEOUT}s, left running: $EXECUTION_ARN"
  fi
  echo "    $status after $((SECONDS - started)) s"
  sleep "$POLL_INTERVAL"
done

# The verdict, from the last description: success needs the pipeline's output (pipeline.asl.json,
# Succeeded) to say that it processed every uploaded file in this execution; a failure reports
# the execution's error and cause (the first 2,000 characters of it).
python3 - "$execution" "${#FILES[@]}" "$EXECUTION_ARN" <<'EOF'
import json
import sys

execution, uploaded, arn = json.loads(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
status = execution["status"]
if status != "SUCCEEDED":
    cause = execution.get("cause", "")
    if len(cause) > 2000:
        cause = cause[:2000] + "... (truncated: describe-execution shows the whole cause)"
    sys.exit(f"smoke_run.sh: error: execution {status}: {execution.get('error', '')}: {cause} ({arn})")
output = execution.get("output", "")
print(f"==> SUCCEEDED: {output}")
try:
    result = json.loads(output)
except ValueError:
    result = None
processed = (
    isinstance(result, dict)
    and result.get("status") == "SUCCEEDED"
    and result.get("files") == uploaded
    and result.get("continued") is False
)
if not processed:
    sys.exit(f"smoke_run.sh: error: the execution succeeded without processing the {uploaded} uploaded files: {output}")
EOF
