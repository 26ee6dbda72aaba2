#!/usr/bin/env bash
# Retrain: pull data from the team's DVC remote, reproduce the pipeline, push the results.
# .github/workflows/retrain.yml calls exactly this; run it locally the same way.
#
#   DVC_REMOTE_URL      the team remote (s3://bucket/path, a folder, ...); default: the repo's configured remote
#   MLFLOW_TRACKING_URI the team's tracking server; default: the embedded sqlite:///mlflow.db
#   FEROPS_PROMOTE      0 = register but never promote (pull requests); default 1 (the export gate decides)
#   BASE_REF            git ref to compare metrics with; writes reports/pr_comment.md for the PR comment
#   RECORD_LOCK         1 = commit dvc.lock and the git-tracked metrics when they changed (the default branch),
#                       so git, DVC and the registry tell the same story; the caller pushes the commit
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -x .venv/bin/dvc ]; then PATH="$PWD/.venv/bin:$PATH"; fi

if [ -n "${DVC_REMOTE_URL:-}" ]; then
  dvc remote add --local --force --default team "$DVC_REMOTE_URL"
fi

# Outputs and the run cache come back from the remote: a stage whose deps did not change is restored,
# not rerun, even in a fresh clone.
echo "retrain: pulling data, cached outputs and the run cache"
dvc pull --allow-missing --run-cache
echo "retrain: reproducing the pipeline"
dvc repro
echo "retrain: pushing outputs and the run cache to the remote"
dvc push --run-cache

if [ "${RECORD_LOCK:-0}" = 1 ]; then
  git add dvc.lock metrics reports/*.json  # the outputs DVC leaves to git (cache: false)
  if git diff --cached --quiet; then
    echo "retrain: dvc.lock unchanged, nothing to record"
  else
    git -c user.name="${GIT_AUTHOR_NAME:-ferops-retrain}" -c user.email="${GIT_AUTHOR_EMAIL:-retrain@ferops.invalid}" \
      commit -qm "retrain: record dvc.lock and metrics of the retrained pipeline [skip ci]"
    echo "retrain: committed dvc.lock ($(git rev-parse --short HEAD))"
  fi
fi

if [ -n "${BASE_REF:-}" ]; then
  mkdir -p reports
  {
    echo "## ferops retrain"
    echo
    echo "### Metrics vs \`${BASE_REF}\`"
    dvc metrics diff "$BASE_REF" --md --precision 4 || echo "(no metrics on ${BASE_REF} to compare with)"
    echo
    echo "### Export"
    echo '```json'
    cat models/export.json
    echo '```'
    echo
    echo "### Confusion matrix (PrivateTest)"
    echo "![confusion matrix](./reports/confusion.png)"
    echo "![reliability diagram](./reports/reliability.png)"
  } > reports/pr_comment.md
  echo "retrain: wrote reports/pr_comment.md"
fi
