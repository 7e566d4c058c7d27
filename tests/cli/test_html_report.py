"""`layerleak scan --format html`: the self-contained page for auditors, checked in a real browser.

The report of a fixture image whose file names and build steps carry HTML (`<script>`, quotes) is written
with the real binary, then:
- statically: a Content-Security-Policy that forbids loading anything, no script, no element that loads
  something (src/href/url()), no full secret, every finding's path and rule present (escaped);
- in headless Chromium (Debian package `chromium`, installed by scripts/install-deps): the screenshot is a
  real PNG that is not blank (decoded here with zlib: several colours, a fair share of non-white pixels),
  the DOM Chromium built contains each finding's path and rule as text and no script element, and the page
  makes NO network request: Chromium runs with a proxy that is a local socket listener recording every
  connection, and a resolver that resolves nothing but that listener. Chromium itself still calls a few
  of its own services whatever the flags (component updater, network time, sign-in): those exact hosts
  (CHROMIUM_OWN_HOSTS) are the only requests tolerated, and a control page that does load an image proves
  the listener sees a page's requests.
Every Chromium run has a timeout; a missing Chromium is a failure, never a skip.

Environment (set by CTest): LAYERLEAK_BIN, LAYERLEAK_FIXTURE_TOOL, LAYERLEAK_SOURCE_DIR;
LAYERLEAK_HTML_SCREENSHOT, when set, is where a copy of the screenshot is kept. Standard library only.
"""

import html
import os
import re
import shutil
import socket
import struct
import subprocess
import tempfile
import threading
import unittest
import zlib
from pathlib import Path

import helpers as h
from helpers import ACCESS_KEY, SECRET_KEY, SECRET_KEY_2, SECRET_KEY_4

CHROMIUM_TIMEOUT = 90  # seconds for one Chromium run (start, render, screenshot)
# Chromium's own background requests (seen with Chromium 156 despite --disable-background-networking and
# --disable-component-update); nothing a page can name: a font or image host is never in this list.
CHROMIUM_OWN_HOSTS = {"clients2.google.com", "update.googleapis.com", "redirector.gvt1.com",
                      "accounts.google.com", "optimizationguide-pa.googleapis.com",
                      "safebrowsingohttpgateway.googleapis.com", "edgedl.me.gvt1.com"}

HOSTILE_DIR = "app/<script>alert(\"x\")</script>"
HOSTILE_FILE = HOSTILE_DIR + "/it's \"quoted\" & <b>bold</b>.env"
HOSTILE_STEP = "RUN echo '<img src=http://evil.example/x.png>' \"&\" > /dev/null"

SPEC = {"images": [{
    "repo_tags": ["example/html:1"],
    "env": ["PATH=/usr/bin:/bin", f"SCW_SECRET_KEY={SECRET_KEY_4}"],
    "layers": [
        {"created_by": "COPY app /app", "entries": [
            {"type": "dir", "path": "app"},
            h.file_entry("app/.env", f"SCW_ACCESS_KEY={ACCESS_KEY}\nSCW_SECRET_KEY={SECRET_KEY}\n"),
            {"type": "dir", "path": HOSTILE_DIR},
            h.file_entry(HOSTILE_FILE, f"token: {SECRET_KEY_2}\nSCW_SECRET_KEY={SECRET_KEY_2}\n"),
        ]},
        {"created_by": HOSTILE_STEP, "entries": [
            {"type": "whiteout", "path": "app/.env"},
            {"type": "dir", "path": "srv"},
            h.file_entry("srv/filler.txt", "x" * 200000),
        ]},
    ],
}]}
SECRETS = (ACCESS_KEY, SECRET_KEY, SECRET_KEY_2, SECRET_KEY_4)

_TMP = None
_REPORT = None  # (path of the HTML file, the JSON report of the same scan)


def setUpModule():
    global _TMP, _REPORT
    h.layerleak_bin()
    h.fixture_tool()
    chromium()
    _TMP = tempfile.TemporaryDirectory(prefix="layerleak-html-")
    root = Path(_TMP.name)
    image = str(h.build_fixture(SPEC, root / "image.tar", "oci-archive"))
    out = root / "report.html"
    result = h.run_layerleak("scan", "--format", "html", "-o", str(out), image)
    if result.returncode != 1:
        raise AssertionError("the html scan should exit 1 (findings)\n" + result.describe())
    doc = h.parse_json(unittest.TestCase(), h.scan("--format", "json", image))
    _REPORT = (out, doc)


def tearDownModule():
    if _TMP is not None:
        _TMP.cleanup()


def chromium():
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    raise AssertionError("chromium is not installed: run scripts/install-deps")


# ---- a listener that records every connection Chromium makes -----------------------------------------

class ConnectionRecorder:
    """A TCP listener on 127.0.0.1 used as Chromium's proxy: it records each connection's first bytes."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.connections = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            with conn:
                conn.settimeout(1)
                try:
                    first = conn.recv(200)
                except OSError:
                    first = b""
                self.connections.append(first)

    def page_requests(self):
        """The recorded requests that are not Chromium's own (CHROMIUM_OWN_HOSTS), as their first lines."""
        out = []
        for first in self.connections:
            line = first.split(b"\r\n", 1)[0].decode("latin-1")
            match = re.match(r"^[A-Z]+ (?:https?://)?([^/:\s]+)", line)
            if match is None or match.group(1).lower() not in CHROMIUM_OWN_HOSTS:
                out.append(line)
        return out

    def close(self):
        self._stop.set()
        self._thread.join(5)
        self.sock.close()


def run_chromium(tc, page, *mode, recorder):
    profile = tempfile.mkdtemp(prefix="layerleak-chromium-")
    try:
        args = [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                "--no-default-browser-check", "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--disable-extensions", "--disable-default-apps", "--metrics-recording-only",
                f"--user-data-dir={profile}", f"--proxy-server=127.0.0.1:{recorder.port}",
                "--disable-client-side-phishing-detection", "--disable-domain-reliability", "--no-pings",
                "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1", "--window-size=1200,2000", *mode, page.as_uri()]
        try:
            proc = subprocess.run(args, capture_output=True, timeout=CHROMIUM_TIMEOUT, check=False)
        except subprocess.TimeoutExpired:
            tc.fail(f"chromium did not finish within {CHROMIUM_TIMEOUT} s: {args}")
        tc.assertEqual(proc.returncode, 0, proc.stderr.decode("utf-8", "replace")[-3000:])
        return proc.stdout.decode("utf-8", "replace")
    finally:
        shutil.rmtree(profile, ignore_errors=True)


# ---- PNG -------------------------------------------------------------------------------------------------

def decode_png(data):
    """(width, height, rows of RGB(A) bytes) of an 8-bit, non-interlaced RGB or RGBA PNG."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, header = 8, [], None
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat.append(body)
        pos += 12 + length
    width, height, depth, colour, _, _, interlace = header
    assert depth == 8 and colour in (2, 6) and interlace == 0, f"unexpected PNG format {header}"
    bpp = 3 if colour == 2 else 4
    raw = zlib.decompress(b"".join(idat))
    stride = width * bpp
    rows, prev = [], bytearray(stride)
    for y in range(height):
        filt = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        if filt == 1:
            for i in range(bpp, stride):
                line[i] = (line[i] + line[i - bpp]) & 255
        elif filt == 2:
            line = bytearray((a + b) & 255 for a, b in zip(line, prev))
        elif filt == 3:
            for i in range(stride):
                left = line[i - bpp] if i >= bpp else 0
                line[i] = (line[i] + ((left + prev[i]) >> 1)) & 255
        elif filt == 4:
            for i in range(stride):
                a = line[i - bpp] if i >= bpp else 0
                b = prev[i]
                c = prev[i - bpp] if i >= bpp else 0
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(bytes(line))
        prev = line
    return width, height, bpp, rows


class HtmlReportTest(unittest.TestCase):
    def page(self):
        return _REPORT[0].read_text(encoding="utf-8")

    def findings(self):
        return [f for image in _REPORT[1]["images"] for f in image["findings"]]

    def test_static_self_contained_and_escaped(self):
        text = self.page()
        self.assertIn('<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
                      'style-src \'unsafe-inline\'; img-src data:">', text)
        self.assertNotIn("<script", text.lower())
        self.assertNotIn("<link", text.lower())
        # Nothing that loads: no src/href attribute on any tag, no url() in CSS, no http(s) URL in either.
        for tag in re.findall(r"<[^>]*>", text):
            self.assertIsNone(re.search(r"\s(src|href|action|srcset|poster)\s*=", tag, re.I), tag)
        self.assertNotRegex(text, r"url\s*\(")
        for tag in re.findall(r"<[^>]*>", text):
            self.assertNotRegex(tag, r"https?://", tag)
        self.assertIn(html.escape("/" + HOSTILE_FILE, quote=True).replace("&#x27;", "&#39;"), text)
        self.assertNotIn(HOSTILE_DIR, text)
        self.assertIn("RUN echo &#39;&lt;img src=http://evil.example/x.png&gt;&#39;", text)
        h.assert_no_full_secret(self, text, SECRETS, "html report")
        self.assertGreaterEqual(len(self.findings()), 4)
        for f in self.findings():
            where = f["location"].get("path") or f["location"]["field"]
            self.assertIn(html.escape(where, quote=True).replace("&#x27;", "&#39;"), text)
            self.assertIn(f["rule_id"], text)

    def test_listener_sees_a_page_that_loads_something(self):
        # The control: without this, "no connection" below could mean a proxy Chromium never used.
        control = Path(_TMP.name) / "control.html"
        control.write_text('<!DOCTYPE html><html><body><img src="http://control.invalid/x.png">'
                           '<p>control</p></body></html>', encoding="utf-8")
        recorder = ConnectionRecorder()
        try:
            run_chromium(self, control, "--dump-dom", recorder=recorder)
        finally:
            recorder.close()
        self.assertTrue(any("control.invalid" in line for line in recorder.page_requests()), recorder.connections)

    def test_rendered_offline_dom_and_screenshot(self):
        recorder = ConnectionRecorder()
        shot = Path(_TMP.name) / "report.png"
        try:
            dom = run_chromium(self, _REPORT[0], "--dump-dom", recorder=recorder)
            run_chromium(self, _REPORT[0], f"--screenshot={shot}", recorder=recorder)
        finally:
            recorder.close()
        self.assertEqual(recorder.page_requests(), [], "the HTML report made network requests")

        # The DOM Chromium built: every finding's path and rule as text, no script element.
        self.assertNotIn("<script", dom.lower())
        text = html.unescape(re.sub(r"<[^>]*>", " ", dom))
        for f in self.findings():
            self.assertIn(f["location"].get("path") or f["location"]["field"], text)
            self.assertIn(f["rule_id"], text)
        self.assertIn("/" + HOSTILE_FILE, text)

        # The screenshot: a real, non-blank picture.
        data = shot.read_bytes()
        width, height, bpp, rows = decode_png(data)
        self.assertEqual((width, height), (1200, 2000))
        colours, non_white, total = set(), 0, 0
        for row in rows[::4]:
            for x in range(0, width * bpp, bpp * 4):
                pixel = row[x:x + 3]
                colours.add(pixel)
                total += 1
                if pixel != b"\xff\xff\xff":
                    non_white += 1
        self.assertGreater(len(colours), 10, "the screenshot has almost no colours")
        self.assertGreater(non_white / total, 0.03, f"the screenshot is nearly blank ({non_white}/{total})")
        keep = os.environ.get("LAYERLEAK_HTML_SCREENSHOT")
        if keep:
            shutil.copyfile(shot, keep)


if __name__ == "__main__":
    unittest.main()
