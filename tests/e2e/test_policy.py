"""The message policy stages through the real binary (issue 6): R-POL-3 attachments, R-POL-4 antivirus with a real
clamd from Debian (started here with its own config and an EICAR-only database), R-POL-7 state-secret marks.

A quarantined message is accepted (250) and held for the operator (tests/e2e/test_quarantine.py covers the rest)."""

from __future__ import annotations

import email.policy
import io
import json
import shutil
import smtplib
import socket
import subprocess
import time
import zipfile
from email.message import EmailMessage

import pytest

from harness import DOMAIN, PASSWORD, free_ports, unverified_context

AN = f"annv@{DOMAIN}"
BINH = f"binhtt@{DOMAIN}"
OUTSIDE = "nguoigui@example.org"

EICAR = rb"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
EICAR_HDB = "44d88612fea8a8f36de82e1278abb02f:68:Eicar-Test-Signature\n"


def pe_file() -> bytes:
    pe = bytearray(256)
    pe[0:2] = b"MZ"
    pe[2] = 0x90
    pe[0x3C] = 0x80
    pe[0x80:0x84] = b"PE\0\0"
    return bytes(pe)


def letter(subject: str, body: str, attachments: list[tuple[str, bytes]] = (), sender: str = OUTSIDE) -> bytes:
    m = EmailMessage()
    m["From"] = sender
    m["To"] = BINH
    m["Subject"] = subject
    m.set_content(body)
    for name, data in attachments:
        m.add_attachment(data, maintype="application", subtype="octet-stream", filename=name)
    return m.as_bytes(policy=email.policy.SMTP)


def send_mx(server, data: bytes) -> None:
    with server.smtp() as s:
        s.sendmail(OUTSIDE, [BINH], data)


def refusal(server, data: bytes) -> tuple[int, str]:
    with pytest.raises(smtplib.SMTPDataError) as e:
        send_mx(server, data)
    return e.value.smtp_code, e.value.smtp_error.decode("utf-8", "replace")


def inbox_count(server, address: str) -> int:
    c = server.imap(address)
    try:
        typ, data = c.select("INBOX")
        assert typ == "OK", data
        return int(data[0])
    finally:
        c.logout()


def test_exe_attachment_refused(server):
    code, text = refusal(server, letter("Phần mềm", "Cài đặt giúp.", [("setup.exe", b"MZ not really")]))
    assert code == 554, text
    assert "«setup.exe»" in text and "R-POL-3" in text and "Executable attachment" in text, text
    assert inbox_count(server, BINH) == 0


def test_renamed_exe_refused(server):
    code, text = refusal(server, letter("Hóa đơn", "Xem hóa đơn.", [("hoa-don.pdf", pe_file())]))
    assert code == 554 and "hoa-don.pdf" in text and "PE/MZ" in text, text


def test_zip_containing_exe_refused(server):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("bao-cao.docx", b"PK-not-really")
        z.writestr("cong-cu/chay.exe", b"x")
    code, text = refusal(server, letter("Tài liệu", "Xem tệp nén.", [("tai-lieu.zip", buf.getvalue())]))
    assert code == 554 and "tai-lieu.zip/cong-cu/chay.exe" in text, text


def test_password_protected_zip_held_inbound(server, tmp_path):
    if not shutil.which("zip"):
        pytest.fail("Debian's zip is needed (apt-get install zip)")
    (tmp_path / "luong.xlsx").write_bytes(b"bang luong")
    subprocess.run(["zip", "-q", "-P", "matkhau123", "bang-luong.zip", "luong.xlsx"], cwd=tmp_path, check=True)
    data = (tmp_path / "bang-luong.zip").read_bytes()
    send_mx(server, letter("Bảng lương", "Mật khẩu gửi sau.", [("bang-luong.zip", data)]))
    # Quarantined by policy: accepted, in no mailbox, held with the reason for the operator.
    assert inbox_count(server, BINH) == 0
    r = subprocess.run(
        [str(server.binary), "quarantine", "list", "--config", str(server.config), "--json"],
        capture_output=True, text=True, timeout=60,
    )
    assert r.returncode == 0, r.stderr
    (held,) = json.loads(r.stdout)
    assert held["recipients"] == [BINH], held
    assert "bang-luong.zip/luong.xlsx" in held["reason"] and "Password-protected" in held["reason"], held


@pytest.fixture
def clamd(tmp_path):
    binary = shutil.which("clamd") or "/usr/sbin/clamd"
    if not shutil.which(binary):
        pytest.fail("clamd is needed (apt-get install clamav-daemon)")
    (tmp_path / "test.hdb").write_text(EICAR_HDB)
    (port,) = free_ports(1)
    conf = tmp_path / "clamd.conf"
    conf.write_text(
        f"Foreground yes\nTCPSocket {port}\nTCPAddr 127.0.0.1\nDatabaseDirectory {tmp_path}\n"
        f"TemporaryDirectory {tmp_path}\nLogFile {tmp_path}/clamd.log\n"
    )
    proc = subprocess.Popen([binary, f"--config-file={conf}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            assert proc.poll() is None, "clamd exited at start"
            assert time.monotonic() < deadline, "clamd did not start"
            time.sleep(0.1)
    yield proc, f"127.0.0.1:{port}"
    if proc.poll() is None:
        proc.terminate()
        proc.wait(timeout=30)


def test_eicar_refused_then_clamd_stopped_gives_451(make_server, clamd):
    proc, address = clamd
    server = make_server(env={"CONGVU_ANTIVIRUS_CLAMD": address, "CONGVU_ANTIVIRUS_TIMEOUT_SECONDS": "5"})
    code, text = refusal(server, letter("Tài liệu", "Xem tệp.", [("eicar.txt", EICAR)]))
    assert code == 554 and "Eicar-Test-Signature" in text and "«eicar.txt»" in text, text

    send_mx(server, letter("Tài liệu sạch", "Xem tệp.", [("so-lieu.csv", b"a,b\n1,2\n")]))
    assert inbox_count(server, BINH) == 1

    proc.terminate()
    proc.wait(timeout=30)
    code, text = refusal(server, letter("Tài liệu", "Xem tệp.", [("so-lieu.csv", b"a,b\n1,2\n")]))
    assert code == 451, text
    assert "R-POL-4" in text, text
    assert inbox_count(server, BINH) == 1


def submit(server, data: bytes) -> None:
    conn = smtplib.SMTP("127.0.0.1", server.ports["submission"], timeout=30)
    try:
        conn.starttls(context=unverified_context())
        conn.login(AN, PASSWORD)
        conn.sendmail(AN, [BINH], data)
    finally:
        conn.quit()


def test_secret_mark_refused_on_submission_and_ordinary_letter_passes(server):
    with pytest.raises(smtplib.SMTPDataError) as e:
        submit(server, letter("[TỐI MẬT] Kế hoạch", "Kính gửi anh Bình.", sender=AN))
    text = e.value.smtp_error.decode("utf-8", "replace")
    assert e.value.smtp_code == 554 and "«TỐI MẬT»" in text and "R-POL-7" in text, text

    body = "Kính gửi anh Bình,\nĐề nghị đổi mật khẩu hộp thư trước ngày 30/6.\nBí mật kinh doanh, mật độ dân số.\n"
    submit(server, letter("Đổi mật khẩu", body, sender=AN))
    deadline = time.monotonic() + 30
    while inbox_count(server, BINH) < 1:
        assert time.monotonic() < deadline, "the ordinary letter was not delivered"
        time.sleep(0.2)
