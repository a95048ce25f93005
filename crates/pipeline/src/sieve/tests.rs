//! Scripts run against real-looking official mail.

use super::*;

const LETTER: &str = "From: =?UTF-8?B?VsSDbiBwaMOybmcgVUJORA==?= <vanphong@vpubnd.bacgiang.gov.vn>\r\n\
To: Nguyen Van An <an@sotttt.bacgiang.gov.vn>, binh@sotttt.bacgiang.gov.vn\r\n\
Cc: Tran Thi Ha <ha+tonghop@sotttt.bacgiang.gov.vn>\r\n\
Subject: =?UTF-8?Q?Gi=E1=BA=A5y_m=E1=BB=9Di_H=E1=BB=98I_NGH=E1=BB=8A?=\r\n\
 \x20tong ket\r\n\
X-Priority: 2\r\n\
Message-ID: <cv-123@vpubnd.bacgiang.gov.vn>\r\n\
MIME-Version: 1.0\r\n\
Content-Type: text/plain; charset=utf-8\r\n\
\r\n\
Kính gửi các đơn vị, mời dự hội nghị tổng kết năm 2026.\r\n";

fn run(script: &str, raw: &str, from: &str, to: &str) -> Decision {
    let script = congvu_wire::sieve::parse(script.as_bytes()).expect("script parses");
    let message = SieveMessage::new(raw.as_bytes());
    evaluate(&script, &message, &Envelope { from, to })
}

fn actions(script: &str) -> Vec<Action> {
    let d = run(
        script,
        LETTER,
        "vanphong@vpubnd.bacgiang.gov.vn",
        "an@sotttt.bacgiang.gov.vn",
    );
    assert_eq!(d.error, None);
    d.actions
}

fn keep() -> Action {
    Action::Keep { flags: vec![] }
}

#[test]
fn no_script_action_means_implicit_keep() {
    assert_eq!(actions(""), vec![keep()]);
    assert_eq!(actions("if false { discard; }"), vec![keep()]);
}

#[test]
fn header_tests_see_decoded_unfolded_values() {
    let script = r#"require ["fileinto", "comparator-i;unicode-casemap"];
        if header :contains :comparator "i;unicode-casemap" "subject" "hội nghị tong ket" {
            fileinto "Hội nghị";
        }"#;
    assert_eq!(
        actions(script),
        vec![Action::FileInto {
            mailbox: "Hội nghị".into(),
            flags: vec![]
        }]
    );
    // i;ascii-casemap (the default) does not fold Vietnamese capitals.
    let script = r#"require "fileinto";
        if header :contains "subject" "hội nghị" { fileinto "X"; }"#;
    assert_eq!(actions(script), vec![keep()]);
}

#[test]
fn address_and_envelope_parts() {
    let script = r#"require ["fileinto", "envelope"];
        if address :domain :is "from" "vpubnd.bacgiang.gov.vn" { fileinto "UBND"; }
        if envelope :localpart :is "to" "an" { addflag_free; }"#;
    // addflag_free is not a command: the parser refuses the script, as it must.
    assert!(congvu_wire::sieve::parse(script.as_bytes()).is_err());
    let script = r#"require ["fileinto", "envelope", "copy"];
        if address :domain :is "from" "vpubnd.bacgiang.gov.vn" { fileinto :copy "UBND"; }
        if envelope :localpart :is "to" "an" { fileinto "Của tôi"; }
        if address :all :is "cc" "ha+tonghop@sotttt.bacgiang.gov.vn" { fileinto "Có Hà"; }"#;
    assert_eq!(
        actions(script),
        vec![
            Action::FileInto {
                mailbox: "UBND".into(),
                flags: vec![]
            },
            Action::FileInto {
                mailbox: "Của tôi".into(),
                flags: vec![]
            },
            Action::FileInto {
                mailbox: "Có Hà".into(),
                flags: vec![]
            },
        ]
    );
}

#[test]
fn variables_and_match_captures() {
    let script = r#"require ["fileinto", "variables"];
        if address :matches "cc" "*+*@*" {
            set :upperfirst "tag" "${2}";
            fileinto "Nhãn/${tag}";
        }"#;
    assert_eq!(
        actions(script),
        vec![Action::FileInto {
            mailbox: "Nhãn/Tonghop".into(),
            flags: vec![]
        }]
    );
    let script = r#"require ["variables", "fileinto"];
        set "a" "x"; set :length "n" "${a}${a}${b}"; fileinto "n=${n} ${unknown} ${1a}";"#;
    assert_eq!(
        actions(script),
        vec![Action::FileInto {
            mailbox: "n=2  ${1a}".into(),
            flags: vec![]
        }]
    );
}

#[test]
fn flags_follow_imap4flags() {
    let script = r#"require ["imap4flags", "fileinto"];
        addflag ["\\Flagged", "$CongVan"];
        addflag "\\Flagged \\Seen";
        removeflag "\\Seen";
        if hasflag :is "$congvan" { fileinto "CV"; }
        keep :flags "\\Answered";"#;
    assert_eq!(
        actions(script),
        vec![
            Action::FileInto {
                mailbox: "CV".into(),
                flags: vec!["\\Flagged".into(), "$CongVan".into()]
            },
            Action::Keep {
                flags: vec!["\\Answered".into()]
            },
        ]
    );
    // The implicit keep carries the internal flags.
    assert_eq!(
        actions("require \"imap4flags\"; setflag \"\\\\Seen\";"),
        vec![Action::Keep {
            flags: vec!["\\Seen".into()]
        }]
    );
}

#[test]
fn body_size_exists_relational() {
    let script = r#"require ["body", "relational", "comparator-i;ascii-numeric", "fileinto"];
        if allof (body :text :contains "hội nghị tổng kết",
                  size :under 10K,
                  exists ["message-id", "x-priority"],
                  header :value "lt" :comparator "i;ascii-numeric" "x-priority" "3",
                  address :count "eq" :comparator "i;ascii-numeric" ["to", "cc"] "3") {
            fileinto "Khẩn";
        }"#;
    assert_eq!(
        actions(script),
        vec![Action::FileInto {
            mailbox: "Khẩn".into(),
            flags: vec![]
        }]
    );
}

#[test]
fn stop_discard_redirect_and_copy() {
    assert_eq!(actions("discard; stop; keep;"), vec![Action::Discard]);
    assert_eq!(
        actions("require \"copy\"; redirect :copy \"chanhvp@bacgiang.gov.vn\";"),
        vec![
            Action::Redirect {
                address: "chanhvp@bacgiang.gov.vn".into()
            },
            keep()
        ]
    );
    let many = "redirect \"a@x.gov.vn\"; redirect \"b@x.gov.vn\"; redirect \"c@x.gov.vn\"; redirect \"d@x.gov.vn\"; redirect \"e@x.gov.vn\";";
    let d = run(
        many,
        LETTER,
        "vanphong@vpubnd.bacgiang.gov.vn",
        "an@sotttt.bacgiang.gov.vn",
    );
    assert_eq!(
        d.actions,
        vec![keep()],
        "a runtime error falls back to the implicit keep"
    );
    assert!(d.error.expect("error").contains("redirects"));
}

#[test]
fn reject_conflicts_are_runtime_errors() {
    let d = run(
        "require \"reject\"; keep; reject \"no\";",
        LETTER,
        "a@b.vn",
        "an@sotttt.bacgiang.gov.vn",
    );
    assert!(d.error.is_some());
    assert_eq!(d.actions, vec![keep()]);
    assert_eq!(
        actions("require \"reject\"; reject \"Hộp thư không nhận thư này.\";"),
        vec![Action::Reject {
            reason: "Hộp thư không nhận thư này.".into()
        }]
    );
}

#[test]
fn vacation_answers_people_not_robots() {
    let script = "require \"vacation\"; vacation :days 3 \"Tôi nghỉ phép đến 30/11.\";";
    let d = run(
        script,
        LETTER,
        "vanphong@vpubnd.bacgiang.gov.vn",
        "an@sotttt.bacgiang.gov.vn",
    );
    let [Action::Vacation(reply), Action::Keep { .. }] = d.actions.as_slice() else {
        panic!("vacation and keep: {:?}", d.actions)
    };
    assert_eq!(reply.to, "vanphong@vpubnd.bacgiang.gov.vn");
    assert_eq!(reply.subject, "Auto: Giấy mời HỘI NGHỊ tong ket");
    assert_eq!(reply.days, 3);
    // Null sender, mailing list, auto-submitted, and a recipient not in To/Cc: no reply.
    let none = |raw: &str, from: &str, to: &str| {
        let d = run(script, raw, from, to);
        assert!(
            !d.actions.iter().any(|a| matches!(a, Action::Vacation(_))),
            "no vacation for {from} -> {to}"
        );
    };
    none(LETTER, "", "an@sotttt.bacgiang.gov.vn");
    none(LETTER, "owner-list@x.vn", "an@sotttt.bacgiang.gov.vn");
    none(
        LETTER,
        "vanphong@vpubnd.bacgiang.gov.vn",
        "other@sotttt.bacgiang.gov.vn",
    );
    let auto = LETTER.replacen(
        "X-Priority",
        "Auto-Submitted: auto-replied\r\nX-Priority",
        1,
    );
    none(
        &auto,
        "vanphong@vpubnd.bacgiang.gov.vn",
        "an@sotttt.bacgiang.gov.vn",
    );
    let list = LETTER.replacen(
        "X-Priority",
        "List-Id: <tin.bacgiang.gov.vn>\r\nX-Priority",
        1,
    );
    none(
        &list,
        "vanphong@vpubnd.bacgiang.gov.vn",
        "an@sotttt.bacgiang.gov.vn",
    );
}

#[test]
fn redirect_addresses_for_the_forwarding_policy() {
    let script = congvu_wire::sieve::parse(
        b"if true { redirect \"a@gmail.com\"; } else { redirect \"b@bacgiang.gov.vn\"; }",
    )
    .expect("parses");
    assert_eq!(
        script.redirect_addresses(),
        vec!["a@gmail.com", "b@bacgiang.gov.vn"]
    );
}
