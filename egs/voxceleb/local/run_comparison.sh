#!/usr/bin/env bash
# The comparison study's entry is ../run_compare.sh; this old name stays for the studies that call it.
exec "$(dirname "$0")/../run_compare.sh" "$@"
