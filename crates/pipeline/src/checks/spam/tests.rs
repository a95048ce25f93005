//! The spam check on a small corpus of Vietnamese and English letters and spam, with the Bayes
//! counts kept in memory the way the store keeps them (per domain and per mailbox).

use super::*;
use crate::{MessageContext, MessageView};
use congvu_wire::mime::parse_message;
use std::sync::Mutex;

const RCPT: &str = "annv@bacgiang.gov.vn";

fn letter(from: &str, subject: &str, body: &str) -> Vec<u8> {
    format!(
        "From: {from}\r\nTo: {RCPT}\r\nSubject: {subject}\r\n\
         Date: Mon, 23 Nov 2026 08:30:00 +0700\r\nMessage-ID: <{}@sender.example>\r\n\
         MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n",
        tokens::hash(body) as u64
    )
    .into_bytes()
}

/// Ordinary official and business mail: none of it may be scored as spam.
fn ham() -> Vec<Vec<u8>> {
    [
        ("vanphong@ubnd.bacgiang.gov.vn", "Công văn số 1234/UBND-VP về việc báo cáo tình hình kinh tế xã hội", "Kính gửi các sở, ban, ngành. Ủy ban nhân dân tỉnh đề nghị các đơn vị gửi báo cáo tình hình kinh tế xã hội tháng 11 trước ngày 25/11/2026. Trân trọng."),
        ("cntt@stttt.bacgiang.gov.vn", "Thông báo đổi mật khẩu hộp thư công vụ", "Kính gửi quý cán bộ. Theo quy định, mật khẩu hộp thư công vụ phải đổi sau 180 ngày. Đề nghị quý cán bộ đăng nhập và đổi mật khẩu trước ngày 30/11. Không chia sẻ mật khẩu cho người khác."),
        ("vanthu@sonv.bacgiang.gov.vn", "Giấy mời họp giao ban tháng 12", "Sở Nội vụ trân trọng kính mời đồng chí dự họp giao ban tháng 12 vào lúc 8 giờ ngày 02/12/2026 tại phòng họp tầng 3. Đề nghị đồng chí bố trí thời gian tham dự."),
        ("phongkh@skhdt.bacgiang.gov.vn", "Kế hoạch đầu tư công năm 2027", "Kính gửi các phòng chuyên môn. Sở Kế hoạch và Đầu tư gửi dự thảo kế hoạch đầu tư công năm 2027 để góp ý. Ý kiến góp ý gửi về phòng Tổng hợp trước thứ Sáu."),
        ("tochuc@stc.bacgiang.gov.vn", "Quyết định phân bổ dự toán ngân sách", "Sở Tài chính gửi quyết định phân bổ dự toán ngân sách nhà nước năm 2027 cho các đơn vị dự toán cấp tỉnh. Đề nghị các đơn vị triển khai thực hiện."),
        ("hanhchinh@syt.bacgiang.gov.vn", "Hướng dẫn tiêm chủng mở rộng", "Sở Y tế hướng dẫn các trung tâm y tế huyện tổ chức tiêm chủng mở rộng đợt 4 năm 2026. Danh sách điểm tiêm gửi kèm theo công văn này."),
        ("secretariat@unicef.org", "Invitation: provincial workshop on child protection", "Dear colleagues, we are pleased to invite your department to the provincial workshop on child protection on 10 December. Please confirm attendance by replying to this message. Kind regards."),
        ("office@adb.org", "Minutes of the project steering committee meeting", "Please find below the minutes of the steering committee meeting held on 15 November. Action items: update the procurement plan, submit the quarterly progress report."),
        ("daotao@sgddt.bacgiang.gov.vn", "Lịch thi tuyển sinh lớp 10 năm học 2027", "Sở Giáo dục và Đào tạo thông báo lịch thi tuyển sinh lớp 10. Các trường trung học cơ sở phổ biến cho học sinh và phụ huynh."),
        ("bientap@baobacgiang.vn", "Đề nghị cung cấp thông tin cho bài viết", "Báo Bắc Giang đề nghị quý cơ quan cung cấp thông tin về kết quả cải cách hành chính năm 2026 để phục vụ bài viết chuyên đề."),
    ]
    .iter()
    .map(|(f, s, b)| letter(f, s, b))
    .collect()
}

/// Spam as it arrives: every one of these must be filed into Junk or refused by the rules alone.
fn spam() -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = [
        ("khuyenmai@deal-hot.example", "CHÚC MỪNG BẠN ĐÃ TRÚNG THƯỞNG!!!", "Bạn đã trúng thưởng iPhone. Nhận quà ngay, bấm vào đây: http://bit.ly/qua-tang. Số lượng có hạn, chỉ hôm nay!!!"),
        ("vay@tindung-nhanh.example", "Vay tiền nhanh lãi suất thấp không cần thế chấp", "Vay tiền nhanh, giải ngân trong ngày, lãi suất thấp, không cần thế chấp. Liên hệ Zalo 0900000000. Vay tín chấp chỉ cần CCCD!!!"),
        ("promo@pharmacy.example", "Cheap meds online pharmacy!!!", "Buy now: viagra, cialis. 100% free shipping, risk free, order now. Click here: http://203.0.113.9/shop"),
        ("lottery@claims.example", "YOU HAVE WON THE LOTTERY", "Dear friend, congratulations you have won the lottery. Claim your prize now, send your bank details for the wire transfer of your inheritance. Urgent reply needed. Act now!"),
        ("kiemtien@lamgiau.example", "Việc nhẹ lương cao, kiếm tiền online tại nhà", "Kiếm tiền online, kiếm tiền tại nhà, việc nhẹ lương cao, thu nhập khủng mỗi tháng. Đầu tư sinh lời, lợi nhuận cao, nhân đôi tài khoản. Click vào đây: https://cutt.ly/xyz"),
        ("nhacai@cacuoc.example", "Nha cai uy tin - ca cuoc bong da", "Nha cai so 1, ca cuoc bong da, xo so, casino truc tuyen. Khuyen mai 100% nap dau. Bam vao day: http://bit.ly/nhacai !!!"),
    ]
    .iter()
    .map(|(f, s, b)| letter(f, s, b))
    .collect();
    // HTML only, no Date, no Message-ID, a shortened link and a link to a bare IP address.
    out.push(
        "From: \"Ngân hàng\" <no-reply@secure-bank.example>\r\nReply-To: thu@lua-dao.example\r\n\
         Subject: Tài khoản của bạn đã bị khóa\r\nMIME-Version: 1.0\r\n\
         Content-Type: text/html; charset=utf-8\r\n\r\n\
         <p>Tài khoản của bạn đã bị khóa. Xác minh tài khoản ngay tại \
         <a href=\"http://vietcombank.com.vn@198.51.100.4/login\">đây</a> hoặc \
         <a href=\"https://tinyurl.com/mo-khoa\">đây</a>. Verify your account!</p>\r\n"
            .as_bytes()
            .to_vec(),
    );
    // Everything at once, in both languages: far above the threshold.
    out.push(
        "From: winner@prize.example\r\nSubject: TRÚNG THƯỞNG LỚN - YOU HAVE WON!!!\r\n\
         MIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n\r\n\
         <p>Chúc mừng! Bạn đã trúng thưởng xổ số, nhận thưởng ngay! Vay tiền nhanh, lãi suất \
         thấp, khuyến mãi giá sốc, miễn phí 100%, số lượng có hạn, chỉ hôm nay!!! \
         Congratulations you have won the lottery, claim your prize, click here, act now, \
         100% free, risk free, viagra, casino, work from home!!! \
         <a href=\"http://bit.ly/win\">bấm vào đây</a> \
         <a href=\"http://203.0.113.50/claim\">click here</a></p>\r\n"
            .as_bytes()
            .to_vec(),
    );
    out
}

fn context<'a>(raw: &'a [u8], index: &'a MessageIndex, source: Source) -> MessageContext<'a> {
    static RCPTS: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    MessageContext {
        source,
        remote_ip: None,
        helo: Some("sender.example"),
        mail_from: "x@sender.example",
        rcpt_to: RCPTS.get_or_init(|| vec![RCPT.to_string()]),
        authenticated: None,
        raw,
        index,
    }
}

async fn run(check: &Spam, raw: &[u8]) -> Outcome {
    let index = parse_message(raw);
    let ctx = context(raw, &index, Source::Mx);
    check.on_data(&MessageView::new(&ctx)).await
}

fn status(outcome: &Outcome) -> String {
    let headers = match outcome {
        Outcome::AddHeaders(h) | Outcome::Junk(h) => h,
        other => panic!("no headers: {other:?}"),
    };
    headers
        .iter()
        .find(|h| h.starts_with("X-Spam-Status:"))
        .cloned()
        .unwrap_or_default()
}

#[tokio::test]
async fn ham_passes_and_spam_is_filed_or_refused_by_rules_alone() {
    let check = Spam::new(SpamPolicy::default(), None);
    for raw in ham() {
        let outcome = run(&check, &raw).await;
        assert!(
            matches!(outcome, Outcome::AddHeaders(_)),
            "ham scored as spam: {outcome:?}\n{}",
            String::from_utf8_lossy(&raw)
        );
        assert!(status(&outcome).starts_with("X-Spam-Status: No, score="));
    }
    let mut refused = 0;
    let mut seen = Vec::new();
    for raw in spam() {
        let outcome = run(&check, &raw).await;
        seen.push(format!("{outcome:?}"));
        match &outcome {
            Outcome::Junk(h) => {
                assert_eq!(h[0], "X-Spam-Flag: YES\r\n");
                assert!(status(&outcome).starts_with("X-Spam-Status: Yes, score="));
            }
            Outcome::Reject(reply) => {
                assert_eq!((reply.code, reply.enhanced), (550, "5.7.1"));
                assert!(reply.text.contains("thư rác") && reply.text.contains("spam"));
                refused += 1;
            }
            other => panic!("spam passed: {other:?}\n{}", String::from_utf8_lossy(&raw)),
        }
    }
    assert!(refused >= 1, "the worst spam is refused at DATA: {seen:#?}");
}

#[tokio::test]
async fn our_own_users_mail_is_not_scored() {
    let check = Spam::new(SpamPolicy::default(), None);
    let raw = &spam()[0];
    let index = parse_message(raw);
    for source in [Source::Submission, Source::Append, Source::Webmail] {
        let ctx = context(raw, &index, source);
        assert_eq!(check.on_data(&MessageView::new(&ctx)).await, Outcome::Pass);
    }
    let off = Spam::new(
        SpamPolicy {
            enabled: false,
            ..SpamPolicy::default()
        },
        None,
    );
    assert_eq!(run(&off, raw).await, Outcome::Pass);
}

#[test]
fn headers_name_the_score_threshold_and_tests() {
    let policy = SpamPolicy::default();
    let hits = [
        Hit {
            name: "MISSING_DATE",
            score: 1.0,
        },
        Hit {
            name: "BAYES_99",
            score: 5.0,
        },
    ];
    let Outcome::Junk(h) = outcome(&policy, &hits) else {
        panic!("6.0 is above 5.0");
    };
    assert_eq!(
        h,
        [
            "X-Spam-Flag: YES\r\n",
            "X-Spam-Score: 6.0\r\n",
            "X-Spam-Status: Yes, score=6.0 required=5.0, tests=MISSING_DATE=1,BAYES_99=5\r\n"
        ]
    );
    let Outcome::AddHeaders(h) = outcome(&policy, &[]) else {
        panic!("nothing matched");
    };
    assert_eq!(
        h[1],
        "X-Spam-Status: No, score=0.0 required=5.0, tests=none\r\n"
    );
}

#[test]
fn bayes_bands() {
    assert_eq!(bayes_hit(0.9995).name, "BAYES_999");
    assert_eq!(bayes_hit(0.995).name, "BAYES_99");
    assert_eq!(
        bayes_hit(0.5),
        Hit {
            name: "BAYES_50",
            score: 0.0
        }
    );
    assert_eq!(bayes_hit(0.0).name, "BAYES_00");
}

/// The store's counts, in memory: per domain and per mailbox, as `bayes_train` keeps them.
#[derive(Default)]
struct Memory {
    scopes: Mutex<HashMap<String, Taught>>,
}

impl Memory {
    fn teach(&self, mailbox: &str, raw: &[u8], spam: bool) {
        let tokens = tokens::message_tokens(&parse_message(raw));
        let domain = mailbox.rsplit_once('@').unwrap().1.to_string();
        let mut scopes = self.scopes.lock().unwrap();
        for scope in [domain, mailbox.to_string()] {
            let t = scopes.entry(scope).or_default();
            if spam {
                t.spam_messages += 1;
            } else {
                t.ham_messages += 1;
            }
            for token in &tokens {
                let c = t.tokens.entry(*token).or_default();
                if spam {
                    c.0 += 1;
                } else {
                    c.1 += 1;
                }
            }
        }
    }
}

#[async_trait]
impl BayesSource for Memory {
    async fn taught(
        &self,
        domain: &str,
        mailbox: Option<&str>,
        tokens: &[i64],
    ) -> Result<(Taught, Option<Taught>), String> {
        let scopes = self.scopes.lock().unwrap();
        let pick = |scope: &str| {
            scopes.get(scope).map(|t| Taught {
                spam_messages: t.spam_messages,
                ham_messages: t.ham_messages,
                tokens: tokens
                    .iter()
                    .filter_map(|k| t.tokens.get(k).map(|c| (*k, *c)))
                    .collect(),
            })
        };
        Ok((pick(domain).unwrap_or_default(), mailbox.and_then(pick)))
    }
}

/// Spam no rule catches: polite, well-formed, no listed phrase — only its words give it away.
fn quiet_spam(i: usize) -> Vec<u8> {
    let products = [
        "thuốc bổ thận",
        "cao hồng sâm",
        "đông trùng hạ thảo",
        "nấm linh chi",
    ];
    letter(
        "tuvan@duocpham-quy.example",
        &format!("Tư vấn sức khỏe số {i}: {}", products[i % 4]),
        &format!(
            "Chào anh chị, {} nhập khẩu chính hãng, tráng dương bổ thận, hồi phục sinh lực \
             phái mạnh sau {} ngày. Đặt hàng qua tổng đài miễn cước, giao hàng tận nơi, \
             thanh toán khi nhận hàng. Tư vấn viên {i} luôn sẵn sàng.",
            products[(i + 1) % 4],
            7 + i
        ),
    )
}

#[tokio::test]
async fn bayes_learns_what_the_rules_cannot_see() {
    let memory = Arc::new(Memory::default());
    let policy = SpamPolicy::default();
    let check = Spam::new(policy.clone(), Some(memory.clone()));
    let probe = quiet_spam(99);
    assert!(
        matches!(run(&check, &probe).await, Outcome::AddHeaders(_)),
        "before any teaching the rules alone let it through"
    );
    let ham = ham();
    for i in 0..policy.bayes_min_trained as usize {
        memory.teach(RCPT, &quiet_spam(i), true);
        memory.teach(RCPT, &ham[i % ham.len()], false);
    }
    let outcome = run(&check, &probe).await;
    assert!(matches!(outcome, Outcome::Junk(_)), "{outcome:?}");
    assert!(
        status(&outcome).contains("BAYES_99"),
        "{}",
        status(&outcome)
    );
    // The letters it was taught as ham stay ham, and so does one it never saw.
    for raw in ham.iter() {
        let outcome = run(&check, raw).await;
        assert!(
            status(&outcome).contains("BAYES_00"),
            "{}",
            status(&outcome)
        );
    }
}

#[test]
fn a_domain_taught_too_little_does_not_classify() {
    let policy = SpamPolicy::default();
    let few = Taught {
        spam_messages: 19,
        ham_messages: 500,
        tokens: HashMap::new(),
    };
    assert!(combine_scopes(&policy, &few, None, &[1]).is_none());
}

#[test]
fn a_mailbox_that_taught_enough_weighs_in() {
    let policy = SpamPolicy::default();
    let domain = Taught {
        spam_messages: 20,
        ham_messages: 20,
        tokens: HashMap::from([(7, (1, 1))]),
    };
    let mine = Taught {
        spam_messages: 10,
        ham_messages: 0,
        tokens: HashMap::from([(7, (1, 0))]),
    };
    let (corpus, counts) = combine_scopes(&policy, &domain, Some(&mine), &[7, 8]).unwrap();
    assert_eq!(corpus.spam_messages, 20.0 + 2.0 * 10.0);
    assert_eq!(corpus.ham_messages, 20.0);
    assert_eq!(counts, [(3.0, 1.0), (0.0, 0.0)]);
    let too_little = Taught {
        spam_messages: 9,
        ..mine
    };
    let (corpus, counts) = combine_scopes(&policy, &domain, Some(&too_little), &[7]).unwrap();
    assert_eq!(corpus.spam_messages, 20.0);
    assert_eq!(counts, [(1.0, 1.0)]);
}

/// Stands in for an earlier check that adds this server's `Authentication-Results`.
struct AddsResults(&'static str);

#[async_trait]
impl Check for AddsResults {
    fn name(&self) -> &'static str {
        "adds-results"
    }

    async fn on_data(&self, _ctx: &MessageView<'_>) -> Outcome {
        Outcome::AddHeaders(vec![self.0.to_string()])
    }
}

#[tokio::test]
async fn the_pipeline_hands_earlier_headers_to_the_spam_score() {
    let pipeline = crate::Pipeline::new(vec![
        Box::new(AddsResults(
            "Authentication-Results: mail.bacgiang.gov.vn;\r\n\tspf=fail smtp.mailfrom=x@y;\r\n\tdmarc=fail (p=none) header.from=y\r\n",
        )),
        Box::new(Spam::new(SpamPolicy::default(), None)),
    ]);
    let raw = &ham()[0];
    let index = parse_message(raw);
    let verdict = pipeline.check(&context(raw, &index, Source::Mx)).await;
    let congvu_core::Verdict::Junk { add_headers } = verdict else {
        panic!("SPF and DMARC failures (5.0) file it into Junk: {verdict:?}");
    };
    assert!(add_headers[0].starts_with("Authentication-Results:"));
    assert!(
        add_headers
            .iter()
            .any(|h| h.contains("tests=SPF_FAIL=2,DMARC_FAIL=3")),
        "{add_headers:?}"
    );
}
