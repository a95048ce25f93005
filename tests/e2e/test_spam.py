"""The spam score through the real binary (issue 6, R-POL-5): rules, refusal at DATA, and the Bayes classifier taught
by real IMAP clients moving mail into Junk (MOVE, RFC 6851) and flagging it `$NotJunk`, kept across a restart.

Mail arrives by smtplib on the MX port, is read back with imaplib; nothing is faked."""

from __future__ import annotations

import email
import email.policy
import smtplib
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

import pytest

from harness import DOMAIN, encode_mutf7, fetch_all, list_folders, quote, status_messages, wait_for_count

AN = f"annv@{DOMAIN}"
OUTSIDE = "nguoigui@example.org"
# How many of each the domain must be taught before the classifier speaks ([spam] bayes_min_trained).
MIN_TRAINED = 20


def letter(subject: str, body: str, sender: str = OUTSIDE, html: str | None = None, dated: bool = True) -> bytes:
    m = EmailMessage()
    m["From"] = sender
    m["To"] = AN
    m["Subject"] = subject
    if dated:
        m["Date"] = formatdate(localtime=True)
        m["Message-ID"] = make_msgid(domain="example.org")
    if html is None:
        m.set_content(body)
    else:
        m.set_content(html, subtype="html")
    return m.as_bytes(policy=email.policy.SMTP)


def send(server, data: bytes, sender: str = OUTSIDE) -> None:
    with server.smtp() as s:
        refused = s.sendmail(sender, [AN], data)
        assert refused == {}, refused


def junk_folder(conn) -> str:
    """The wire name (modified UTF-7, unquoted) of the \\Junk folder."""
    names = [name for name, attrs in list_folders(conn).items() if "\\junk" in attrs]
    assert len(names) == 1, list_folders(conn)
    return encode_mutf7(names[0])


def messages(server, folder: str | None = None) -> list[email.message.Message]:
    with server.imap(AN) as c:
        name = junk_folder(c) if folder == "junk" else "INBOX"
        return [email.message_from_bytes(raw, policy=email.policy.default) for raw in fetch_all(c, name).values()]


def subject_has(messages_: list, word: str) -> list:
    return [m for m in messages_ if word in str(m["Subject"])]


def spam_status(msg: email.message.Message) -> str:
    values = msg.get_all("X-Spam-Status") or []
    # Ours is the first (prepended); a sender's own X-Spam-Status below it counts for nothing.
    assert values, f"no X-Spam-Status in {msg.items()}"
    return " ".join(values[0].split())


def counts(server) -> tuple[int, int]:
    with server.imap(AN) as c:
        return status_messages(c, "INBOX"), status_messages(c, junk_folder(c))


def test_rule_spam_goes_to_junk_with_headers(server):
    data = letter(
        "KHUYẾN MÃI CỰC LỚN CHO BẠN",
        "Vay tiền nhanh, lãi suất thấp, không cần thế chấp! Chúc mừng bạn đã trúng thưởng. "
        "Bấm vào đây: http://bit.ly/vay-nhanh\n",
    )
    send(server, data)
    assert counts(server) == (0, 1)
    (msg,) = messages(server, "junk")
    status = spam_status(msg)
    assert status.startswith("Yes, score="), status
    assert "required=5.0" in status and "VI_SPAM_PHRASE" in status and "URL_SHORTENER" in status, status
    assert msg["X-Spam-Flag"] == "YES"
    score = float(msg["X-Spam-Score"])
    assert 5.0 <= score < 15.0, score


def test_very_spammy_mail_is_refused_at_data(server):
    data = letter(
        "TRÚNG THƯỞNG LỚN - YOU HAVE WON!!!",
        "",
        html=(
            "<p>Chúc mừng! Bạn đã trúng thưởng xổ số, nhận thưởng ngay! Vay tiền nhanh, lãi suất thấp, "
            "khuyến mãi giá sốc, miễn phí 100%, số lượng có hạn, chỉ hôm nay!!! Congratulations you have won "
            "the lottery, claim your prize, click here, act now, 100% free, viagra, casino!!! "
            '<a href="http://bit.ly/win">bấm vào đây</a> <a href="http://203.0.113.50/claim">claim</a></p>'
        ),
        dated=False,
    )
    with pytest.raises(smtplib.SMTPDataError) as e:
        send(server, data)
    assert e.value.smtp_code == 550, e.value
    text = e.value.smtp_error.decode("utf-8", "replace")
    assert text.startswith("5.7.1") and "thư rác" in text and "spam" in text, text
    assert counts(server) == (0, 0)


OFFICIAL = [
    (
        "Công văn số 1234/UBND-VP về việc báo cáo kết quả cải cách hành chính",
        "Kính gửi: Các sở, ban, ngành tỉnh.\n\nỦy ban nhân dân tỉnh đề nghị các đơn vị gửi báo cáo kết quả cải cách "
        "hành chính năm 2026 về Văn phòng UBND tỉnh trước ngày 05/12/2026.\n\nTrân trọng.\nVăn phòng UBND tỉnh\n",
    ),
    (
        "Thông báo đổi mật khẩu hộp thư công vụ",
        "Kính gửi quý cán bộ, công chức.\n\nMật khẩu hộp thư công vụ phải đổi sau 180 ngày. Đề nghị đăng nhập và đổi "
        "mật khẩu trước ngày 30/11/2026; không chia sẻ mật khẩu cho người khác.\n\nTrung tâm CNTT\n",
    ),
    (
        "Giấy mời họp giao ban tháng 12/2026",
        "Sở Nội vụ trân trọng kính mời đồng chí dự họp giao ban tháng 12 lúc 8 giờ 00 ngày 02/12/2026 tại phòng họp "
        "tầng 3. Đề nghị đồng chí bố trí thời gian tham dự đúng giờ.\n",
    ),
    (
        "Invitation: provincial workshop on digital government",
        "Dear colleagues,\n\nWe are pleased to invite your department to the provincial workshop on digital "
        "government on 10 December. Please confirm attendance by replying to this message.\n\nKind regards\n",
    ),
]


def test_official_mail_is_delivered_to_inbox_as_not_spam(server):
    for subject, body in OFFICIAL:
        send(server, letter(subject, body, sender="vanphong@ubnd.example.org"))
    # A script's bare notice without Date or Message-ID is still only a little suspicious.
    send(server, b"From: cron@example.org\r\nSubject: backup done\r\n\r\nBackup finished.\r\n")
    assert counts(server) == (len(OFFICIAL) + 1, 0)
    for msg in messages(server):
        status = spam_status(msg)
        assert status.startswith("No, score="), status
        assert msg["X-Spam-Flag"] is None


# Spam that no rule catches: polite, dated, no listed phrase or link. Only its vocabulary gives it away.
PRODUCTS = ["thuốc bổ thận", "cao hồng sâm", "đông trùng hạ thảo", "nấm linh chi"]


def quiet_spam(i: int) -> bytes:
    return letter(
        f"Tư vấn sức khỏe số {i}: {PRODUCTS[i % 4]}",
        f"Chào anh chị, {PRODUCTS[(i + 1) % 4]} nhập khẩu chính hãng, tráng dương bổ thận, hồi phục sinh lực phái "
        f"mạnh sau {7 + i} ngày. Đặt hàng qua tổng đài miễn cước, giao hàng tận nơi, thanh toán khi nhận hàng.\n",
        sender=f"tuvan{i}@duocpham.example.org",
    )


HAM_TOPICS = [
    "báo cáo tiến độ giải ngân vốn đầu tư công",
    "kế hoạch kiểm tra công tác văn thư lưu trữ",
    "lịch tiếp công dân định kỳ của lãnh đạo",
    "tổng hợp ý kiến góp ý dự thảo nghị quyết",
    "phân công trực cơ quan dịp nghỉ lễ",
]


def ham(i: int) -> bytes:
    topic = HAM_TOPICS[i % len(HAM_TOPICS)]
    return letter(
        f"V/v {topic} (lần {i})",
        f"Kính gửi các phòng chuyên môn.\n\nVăn phòng đề nghị các phòng thực hiện {topic}, gửi kết quả về bộ phận "
        f"tổng hợp trước thứ Sáu tuần {i}. Trân trọng.\n",
        sender=f"vanthu{i}@sonv.example.org",
    )


def test_bayes_learns_from_imap_and_remembers_after_restart(server):
    probe = quiet_spam(1000)
    # Untaught, the rules let such mail through.
    send(server, probe)
    assert counts(server) == (1, 0)
    (first,) = messages(server)
    assert spam_status(first).startswith("No,") and "BAYES" not in spam_status(first), spam_status(first)

    for i in range(MIN_TRAINED):
        send(server, quiet_spam(i))
    for i in range(MIN_TRAINED):
        send(server, ham(i))
    wait_for_count(server, AN, 1 + 2 * MIN_TRAINED)
    with server.imap(AN) as c:
        junk = junk_folder(c)
        typ, _ = c.select("INBOX")
        assert typ == "OK"
        # The user marks the spam: MOVE into Junk (the first one twice over, which teaches once) ...
        typ, data = c.uid("SEARCH", "FROM", "duocpham.example.org")
        spam_uids = data[0].split()
        assert len(spam_uids) == MIN_TRAINED + 1
        typ, data = c.uid("MOVE", b",".join(spam_uids).decode(), quote(junk))
        assert typ == "OK", data
        # ... and tells the client the letters are fine: $NotJunk.
        typ, data = c.uid("SEARCH", "FROM", "sonv.example.org")
        ham_uids = data[0].split()
        assert len(ham_uids) == MIN_TRAINED
        typ, data = c.uid("STORE", b",".join(ham_uids).decode(), "+FLAGS.SILENT", "($NotJunk)")
        assert typ == "OK", data
        # Moving one spam back out of Junk and in again relearns it, and changes nothing overall.
        c.select(quote(junk))
        typ, data = c.uid("SEARCH", "ALL")
        one = data[0].split()[0].decode()
        assert c.uid("MOVE", one, "INBOX")[0] == "OK"
        c.select("INBOX")
        typ, data = c.uid("SEARCH", "FROM", "duocpham.example.org")
        assert c.uid("MOVE", data[0].split()[0].decode(), quote(junk))[0] == "OK"

    inbox_before, junk_before = counts(server)
    send(server, quiet_spam(2000))
    assert counts(server) == (inbox_before, junk_before + 1), [spam_status(m) for m in messages(server)]
    (learned,) = subject_has(messages(server, "junk"), "2000")
    status = spam_status(learned)
    assert status.startswith("Yes,") and "BAYES_99" in status, status
    # Ordinary mail of the kind taught as ham still arrives in the inbox, and Bayes says so.
    send(server, ham(99))
    assert counts(server) == (inbox_before + 1, junk_before + 1)
    (kept,) = subject_has(messages(server), "lần 99")
    assert spam_status(kept).startswith("No,") and "BAYES_00" in spam_status(kept), spam_status(kept)

    # The lessons are on disk: after a restart the same vocabulary is still spam.
    server.stop()
    server.start()
    send(server, quiet_spam(3000))
    assert counts(server) == (inbox_before + 1, junk_before + 2)
    (junked,) = subject_has(messages(server, "junk"), "3000")
    assert "BAYES_99" in spam_status(junked), spam_status(junked)
