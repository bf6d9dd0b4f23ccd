"""Screenshot a generated report in headless Chromium, for review by eye (not part of CI).

    python scripts/screenshot.py results/<run>/report.html --widths 1300 800 --out shots/

Writes ``<out>/<stem>-<width>.png`` per width. The page height is taken from the document
(measured in a first pass) so the whole page is in one image. Needs Chromium
(``apt-get install chromium``) or ``--browser PATH``.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path


def _browser(given: str | None) -> str:
    for name in ([given] if given else ["chromium", "chromium-browser", "google-chrome"]):
        path = shutil.which(name) if name else None
        if path:
            return path
    sys.exit("error: no Chromium found; install it (apt-get install chromium) or pass --browser")


def _run(browser: str, *args: str) -> str:
    with tempfile.TemporaryDirectory() as profile:
        done = subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu",
                               "--hide-scrollbars", f"--user-data-dir={profile}", *args],
                              capture_output=True, text=True, timeout=120)
    return done.stdout


def page_height(browser: str, page: Path, width: int) -> int:
    """The document's scroll height at ``width`` CSS pixels."""
    script = ("<script>document.title=document.documentElement.scrollHeight</script>")
    with tempfile.TemporaryDirectory() as folder:  # reports are self-contained
        probe = Path(folder) / page.name
        probe.write_text(page.read_text(encoding="utf-8").replace("</body>", script + "</body>"),
                         encoding="utf-8")
        dom = _run(browser, f"--window-size={width},800", "--virtual-time-budget=2000",
                   "--dump-dom", probe.as_uri())
    match = re.search(r"<title>(\d+)</title>", dom)
    return int(match.group(1)) if match else 4000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pages", nargs="+", type=Path, help="HTML files to screenshot")
    parser.add_argument("--widths", nargs="+", type=int, default=[1300, 800],
                        help="window widths in CSS pixels (default: 1300 800)")
    parser.add_argument("--out", type=Path, default=Path("screenshots"),
                        help="output folder (default: screenshots)")
    parser.add_argument("--max-height", type=int, default=16000,
                        help="cap on the screenshot height in pixels (default: 16000)")
    parser.add_argument("--browser", help="the Chromium executable")
    args = parser.parse_args()
    browser = _browser(args.browser)
    args.out.mkdir(parents=True, exist_ok=True)
    for page in args.pages:
        page = page.resolve()
        for width in args.widths:
            height = min(page_height(browser, page, width), args.max_height)
            shot = args.out / f"{page.parent.name}-{page.stem}-{width}.png"
            _run(browser, f"--window-size={width},{height}", "--virtual-time-budget=2000",
                 f"--screenshot={shot.resolve()}", page.as_uri())
            print(f"{shot} ({width}x{height})")


if __name__ == "__main__":
    main()
