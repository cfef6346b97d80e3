"""Print the circular's files as pages: .docx -> PDF (LibreOffice), .html -> PDF (headless Chromium), PDF -> PNG
(poppler's pdftoppm), and the words of each PDF page with their boxes (pdftotext -bbox-layout).

Used by the tests that check the printed pages and by `docs/circular.md`'s page images; all tools are Debian
packages (`apt-get install -y libreoffice-writer chromium poppler-utils fonts-noto-cjk`). A tool that is missing
raises `MissingToolError` naming the package.

LibreOffice and Chromium substitute the fonts a Chinese office PC has (仿宋, 黑体, 楷体, 方正小标宋简体): `fonts.conf`
beside this module maps them to Noto Serif/Sans CJK SC, so the pages show serif body text and sans headings as
the document asks, on any Linux machine with fonts-noto-cjk.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

FONTS_CONF = Path(__file__).parent / "templates" / "fonts.conf"
TOOLS = {"libreoffice": "libreoffice-writer", "chromium": "chromium", "pdftoppm": "poppler-utils",
         "pdftotext": "poppler-utils", "pdffonts": "poppler-utils", "pdfinfo": "poppler-utils"}


class MissingToolError(RuntimeError):
    """A program needed to print the pages is not installed."""


@dataclass(frozen=True)
class Word:
    text: str
    x0: float
    y0: float
    x1: float
    y1: float


@dataclass(frozen=True)
class Line:
    words: list[Word]

    @property
    def text(self) -> str:
        return "".join(w.text for w in self.words)

    @property
    def box(self) -> tuple[float, float, float, float]:
        return (min(w.x0 for w in self.words), min(w.y0 for w in self.words),
                max(w.x1 for w in self.words), max(w.y1 for w in self.words))


@dataclass(frozen=True)
class Page:
    number: int
    width: float  # pt
    height: float
    lines: list[Line]

    @property
    def text(self) -> str:
        return "\n".join(line.text for line in self.lines)


def tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise MissingToolError(f"{name} not found: apt-get install -y {TOOLS.get(name, name)}")
    return path


def missing_tools(*names: str) -> list[str]:
    return [f"{n} ({TOOLS.get(n, n)})" for n in names if shutil.which(n) is None]


def _env(home: Path) -> dict[str, str]:
    env = dict(os.environ, HOME=str(home))
    env["FONTCONFIG_FILE"] = str(FONTS_CONF)
    return env


def docx_to_pdf(docx_path: Path, out_dir: Path, timeout: float = 240) -> Path:
    """Convert with `libreoffice --headless --convert-to pdf` in a private profile (parallel runs do not clash)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="lo-profile-") as profile:
        subprocess.run(
            [tool("libreoffice"), f"-env:UserInstallation=file://{profile}", "--headless", "--convert-to", "pdf",
             "--outdir", str(out_dir), str(docx_path)],
            check=True, capture_output=True, timeout=timeout, env=_env(Path(profile)),
        )
    pdf = out_dir / (docx_path.stem + ".pdf")
    if not pdf.exists():
        raise RuntimeError(f"LibreOffice wrote no PDF for {docx_path}")
    return pdf


def html_to_pdf(html_path: Path, pdf_path: Path, timeout: float = 180) -> Path:
    """Print with headless Chromium (the print style sheet applies; no header/footer of the browser's own)."""
    pdf_path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="chromium-") as home:
        subprocess.run(
            [tool("chromium"), "--headless", "--no-sandbox", "--disable-gpu", "--no-pdf-header-footer",
             f"--user-data-dir={home}", f"--print-to-pdf={pdf_path}", html_path.resolve().as_uri()],
            check=True, capture_output=True, timeout=timeout, env=_env(Path(home)),
        )
    return pdf_path


def html_measure(html_path: Path, script: str, width: int = 960, height: int = 1000, timeout: float = 120) -> str:
    """Load the page in headless Chromium at `width` px and return what `script` writes into <body data-out>.

    The script runs in a copy of the page (the published file stays script-free).
    """
    html = html_path.read_text(encoding="utf-8")
    probe = f"<script>window.addEventListener('load', () => {{ document.body.dataset.out = (() => {{ {script} }})(); }});</script>"
    with tempfile.TemporaryDirectory(prefix="chromium-") as home:
        copy = Path(home) / "probe.html"
        copy.write_text(html.replace("</body>", probe + "</body>"), encoding="utf-8")
        done = subprocess.run(
            [tool("chromium"), "--headless", "--no-sandbox", "--disable-gpu", f"--user-data-dir={home}",
             f"--window-size={width},{height}", "--virtual-time-budget=3000", "--dump-dom", copy.as_uri()],
            check=True, capture_output=True, timeout=timeout, text=True, env=_env(Path(home)),
        )
    start = done.stdout.find('data-out="')
    if start < 0:
        raise RuntimeError("the probe script wrote nothing")
    import html as html_lib

    return html_lib.unescape(done.stdout[start + 10:done.stdout.index('"', start + 10)])


def page_count(pdf: Path) -> int:
    info = subprocess.run([tool("pdfinfo"), str(pdf)], check=True, capture_output=True, text=True).stdout
    return int(next(line.split()[-1] for line in info.splitlines() if line.startswith("Pages:")))


def fonts(pdf: Path) -> list[str]:
    """Names of the fonts embedded in the PDF (pdffonts), subset prefixes removed."""
    out = subprocess.run([tool("pdffonts"), str(pdf)], check=True, capture_output=True, text=True).stdout
    names = [line.split()[0] for line in out.splitlines()[2:] if line.strip()]
    return sorted({n.split("+", 1)[-1] for n in names})


def pages(pdf: Path) -> list[Page]:
    """Every page's lines of words with their boxes (points from the top left), from pdftotext -bbox-layout."""
    out = subprocess.run([tool("pdftotext"), "-bbox-layout", str(pdf), "-"], check=True, capture_output=True,
                         text=True).stdout
    ns = {"x": "http://www.w3.org/1999/xhtml"}
    root = ET.fromstring(out)
    result = []
    for n, page in enumerate(root.iter("{http://www.w3.org/1999/xhtml}page"), start=1):
        lines = []
        for line in page.iterfind(".//x:line", ns):
            words = [Word(w.text or "", float(w.get("xMin")), float(w.get("yMin")), float(w.get("xMax")),
                          float(w.get("yMax"))) for w in line.iterfind("x:word", ns)]
            if words:
                lines.append(Line(words))
        result.append(Page(n, float(page.get("width")), float(page.get("height")), lines))
    return result


def to_png(pdf: Path, prefix: Path, dpi: int = 60, first: int | None = None, last: int | None = None) -> list[Path]:
    """Pages as PNG files <prefix>-<n>.png (pdftoppm); returns them in page order."""
    prefix.parent.mkdir(parents=True, exist_ok=True)
    args = [tool("pdftoppm"), "-png", "-r", str(dpi)]
    if first:
        args += ["-f", str(first)]
    if last:
        args += ["-l", str(last)]
    subprocess.run([*args, str(pdf), str(prefix)], check=True, capture_output=True)
    return sorted(prefix.parent.glob(prefix.name + "-*.png"), key=lambda p: int(p.stem.rsplit("-", 1)[1]))
