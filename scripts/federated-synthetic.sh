#!/usr/bin/env bash
# scripts/federated-movielens.sh on the synthetic generator (`metarec datasets synthetic`: ≈ 5 000
# users with per-user weights, two binary tasks, chronological split per user): many clients.
#
#   usage: [SEED=1] scripts/federated-synthetic.sh      (needs a release build)
DATASET=synthetic exec "$(dirname "$0")/federated-movielens.sh" "$@"
