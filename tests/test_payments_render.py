"""The printable statements as a person sees them: rendered to images with poppler's pdftoppm,
and their text read back with pdftotext, agreeing with statements.csv.

poppler-utils is installed from the distribution when missing and running as root (as
`make test` in CI does); otherwise these tests are skipped, naming the command to run.
"""

import csv
import os
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from hub.cli import main

DATA = Path(__file__).parent / "data" / "payments"
APT = ["apt-get", "install", "-y", "--no-install-recommends", "poppler-utils"]


@pytest.fixture(scope="module")
def poppler():
    if shutil.which("pdftoppm") is None or shutil.which("pdftotext") is None:
        if os.geteuid() != 0 or shutil.which("apt-get") is None:
            pytest.skip("poppler-utils (pdftoppm, pdftotext) missing: run as root: " + " ".join(APT))
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        if subprocess.run(APT, env=env, capture_output=True, check=False).returncode != 0:
            subprocess.run(["apt-get", "update"], env=env, capture_output=True, check=True)
            subprocess.run(APT, env=env, capture_output=True, check=True)
    return True


@pytest.fixture(scope="module")
def outputs(tmp_path_factory):
    out = tmp_path_factory.mktemp("render") / "out"
    assert main(["payments", "--period", "2026-11-1", "--pricing", str(DATA / "pricing-explained.toml"),
                 "--deliveries", str(DATA / "deliveries.csv"), "--advances", str(DATA / "advances.csv"),
                 "--producers", str(DATA / "producers.csv"), "--out", str(out), "--quiet", "--lang", "es"]) == 0
    return out


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    return struct.unpack(">II", data[16:24])


@pytest.mark.parametrize("pdf", ["statements/p001.pdf", "planilla.pdf", "statements.pdf"])
def test_pdfs_render_to_images(poppler, outputs, tmp_path, pdf):
    subprocess.run(["pdftoppm", "-r", "50", "-png", "-singlefile", str(outputs / pdf), str(tmp_path / "page")],
                   check=True, capture_output=True)
    width, height = png_size(tmp_path / "page.png")
    portrait = pdf != "statements.pdf"  # the summary with names is landscape
    assert (height > width) == portrait
    # Not a blank page: a rendered A4 page at 50 dpi with text and a chart compresses to some kB.
    assert (tmp_path / "page.png").stat().st_size > 5000


def pdftotext(path: Path) -> list[str]:
    text = subprocess.run(["pdftotext", "-layout", str(path), "-"], check=True, capture_output=True,
                          text=True).stdout
    return [" ".join(line.split()) for line in text.splitlines() if line.strip()]


def test_pdftotext_reads_the_amounts_of_statements_csv(poppler, outputs):
    with open(outputs / "statements.csv", newline="") as file:
        rows = list(csv.DictReader(file))
    for row in rows[:-1]:
        lines = pdftotext(outputs / "statements" / f"{row['producer']}.pdf")
        for label, column in (("Bruto (PEN)", "gross"), ("(-) Aporte", "fees"), ("(-) Descuentos", "deductions"),
                              ("(=) Neto a pagar", "net")):
            line = next(line for line in lines if line.startswith(label))
            assert line.split()[-1] == row[column], (row["producer"], column)
        assert any(row["name"] in line for line in lines)
    planilla = pdftotext(outputs / "planilla.pdf")
    assert any(line.startswith("TOTAL (4 productores)") and line.endswith(f"{rows[-1]['liters']} {rows[-1]['net']}")
               for line in planilla)
    rule = next(line for line in pdftotext(outputs / "statements" / "p001.pdf") if line.startswith("Precio: "))
    assert rule.startswith("Precio: Precio base 1.03; +0.01 por cada décima de ST sobre 11.5 %")
