#!/usr/bin/env bash
# Fails when payouts-domain depends (normally, with any feature set) on a
# runtime, database, HTTP or Stripe crate. Ports belong in the domain;
# technology belongs in adapters.
set -euo pipefail
cd "$(dirname "$0")/.."

forbidden='^(tokio|sea-orm[a-z-]*|sqlx[a-z-]*|actix[a-z-]*|async-stripe[a-z-]*|stripe[a-z-]*|reqwest|hyper[a-z-]*) v'

# The pattern itself must catch what it is meant to catch.
for probe in "tokio v1.54.0" "sea-orm v2.0.4" "sqlx-core v0.9.0" "actix-web v4.18.0" \
             "async-stripe v1.0.0-rc.10" "stripe-rust v0.12.0" "reqwest v0.13.5" "hyper v1.7.0"; do
  if ! grep -qE "$forbidden" <<<"$probe"; then
    echo "purity check is broken: it does not catch '$probe'" >&2
    exit 1
  fi
done

status=0
for features in "" "--all-features"; do
  # shellcheck disable=SC2086
  tree=$(cargo tree -p payouts-domain -e normal $features --prefix none --format '{p}' 2>&1) || {
    echo "cargo tree failed: $tree" >&2
    exit 1
  }
  bad=$(grep -E "$forbidden" <<<"$tree" | sort -u || true)
  if [ -n "$bad" ]; then
    echo "payouts-domain ${features:-(default features)} depends on infrastructure crates:" >&2
    echo "$bad" >&2
    status=1
  fi
done
if [ "$status" -eq 0 ]; then
  echo "domain purity: ok ($(cargo tree -p payouts-domain -e normal --all-features --prefix none --format '{p}' | sort -u | wc -l) crates checked)"
fi
exit "$status"
