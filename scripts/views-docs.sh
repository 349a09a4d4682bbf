#!/usr/bin/env bash
# Regenerates the screenshots of both tabs at 1280×860 and 390×844 (docs/screenshots/{chat,inside,compare,recall}-
# {1280,390}.png) and the numbers of docs/VIEWS.md's "The comparison on the shipped models", from the shipped models
# read in Chromium (SwiftShader where there is no GPU: about 10 minutes). APP_PORT picks the preview's port.
set -euo pipefail
cd "$(dirname "$0")/.."
VIEWS_DOCS=1 PW_ONLY=app APP_PORT="${APP_PORT:-4299}" npx playwright test --project=app e2e/app/docs-views.spec.ts "$@"
