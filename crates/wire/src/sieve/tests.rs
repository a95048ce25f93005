//! Scripts a Vietnamese office would write, and the mistakes ManageSieve must name.

use super::*;

fn ok(script: &str) -> Script {
    match parse(script.as_bytes()) {
        Ok(s) => s,
        Err(e) => panic!("script should parse: {e}\n{script}"),
    }
}

fn fails(script: &str) -> ParseError {
    match parse(script.as_bytes()) {
        Ok(s) => panic!("script should be refused: {script}\n{s:?}"),
        Err(e) => e,
    }
}

#[test]
fn rfc5228_section_9_example() {
    let script = ok(r#"
        require ["fileinto", "reject"];
        if header :contains "from" "coyote" {
            discard;
        } elsif header :contains ["subject"] ["$$$"] {
            discard;
        } elsif anyof (not address :all :contains ["To", "Cc"] "me@example.com",
                       header :matches "subject" ["*make*money*fast*", "*university*dipl*mas*"]) {
            fileinto "spam";
        } elsif size :over 100K {
            reject text:
Your message is too big.
.
;
        } else {
            keep;
        }
    "#);
    assert_eq!(
        script.extensions,
        vec![Extension::FileInto, Extension::Reject]
    );
    let [
        Command::If {
            branches,
            otherwise,
        },
    ] = script.commands.as_slice()
    else {
        panic!("one if: {:?}", script.commands);
    };
    assert_eq!(branches.len(), 4);
    assert_eq!(
        otherwise.as_deref(),
        Some(&[Command::Keep { flags: None }][..])
    );
    assert_eq!(
        branches[3].0,
        Test::Size {
            over: true,
            limit: 100 * 1024
        }
    );
    assert_eq!(
        branches[3].1,
        vec![Command::Reject {
            reason: "Your message is too big.\n".into()
        }]
    );
    let Test::AnyOf(tests) = &branches[2].0 else {
        panic!("anyof")
    };
    assert_eq!(
        tests[1],
        Test::Header {
            matcher: Matcher {
                comparator: Comparator::AsciiCasemap,
                match_type: MatchType::Matches
            },
            headers: vec!["subject".into()],
            keys: vec!["*make*money*fast*".into(), "*university*dipl*mas*".into()],
        }
    );
}

#[test]
fn office_filter_with_flags_copy_and_vacation() {
    let script = ok(r#"
        require ["fileinto", "imap4flags", "copy", "vacation", "envelope", "variables", "body", "relational", "comparator-i;ascii-numeric"];
        # Công văn từ Văn phòng UBND tỉnh vào thư mục riêng, đánh dấu quan trọng
        if address :domain :is "from" "vpubnd.bacgiang.gov.vn" {
            fileinto :copy :flags ["\\Flagged"] "Công văn/UBND";
        }
        if envelope :localpart :matches "to" "*+*" {
            set :lower "tag" "${2}";
            fileinto "Tags/${tag}";
        }
        if body :text :contains "hội nghị" { addflag "$HoiNghi"; }
        if header :value "ge" :comparator "i;ascii-numeric" "x-priority" "3" { setflag "flags" "\\Seen"; }
        if string :count "gt" "${flags}" "0" { stop; }
        vacation :days 7 :subject "Nghỉ phép" :addresses ["an@bacgiang.gov.vn"] "Tôi nghỉ phép đến 30/11.";
    "#);
    assert_eq!(script.commands.len(), 6);
    assert!(matches!(
        &script.commands[0],
        Command::If { branches, .. } if branches[0].1 == vec![Command::FileInto {
            mailbox: "Công văn/UBND".into(),
            copy: true,
            flags: Some(vec!["\\Flagged".into()]),
        }]
    ));
    assert!(matches!(
        &script.commands[5],
        Command::Vacation(Vacation { days: Some(7), subject: Some(s), addresses, .. })
            if s == "Nghỉ phép" && addresses.len() == 1
    ));
    let Command::If { branches, .. } = &script.commands[3] else {
        panic!()
    };
    assert_eq!(
        branches[0].1,
        vec![Command::Flags {
            op: FlagOp::Set,
            variable: Some("flags".into()),
            flags: vec!["\\Seen".into()]
        }]
    );
}

#[test]
fn extensions_must_be_required_before_use() {
    let e = fails("fileinto \"Junk\";");
    assert!(e.message.contains("require \"fileinto\""), "{e}");
    let e = fails("require \"fileinto\";\nif true { fileinto :copy \"X\"; }");
    assert_eq!(e.line, 2);
    assert!(e.message.contains("\"copy\""), "{e}");
    let e = fails("keep;\nrequire \"fileinto\";");
    assert_eq!(e.line, 2);
    assert!(e.message.contains("before every other command"), "{e}");
    let e = fails("require \"enotify\";");
    assert!(e.message.contains("not supported"), "{e}");
}

#[test]
fn structural_mistakes_are_named_with_their_line() {
    let cases: &[(&str, u32, &str)] = &[
        ("keep", 1, "must end with ';'"),
        ("if true {\n keep;\n", 1, "never closed"),
        ("}\n", 1, "no block open"),
        ("else { keep; }", 1, "must follow"),
        (
            "if true { keep; } else { keep; } elsif true { keep; }",
            1,
            "cannot follow 'else'",
        ),
        ("if true keep;", 1, "takes no tests"),
        ("if true;", 1, "must be followed by a block"),
        ("\n\nfrobnicate;", 3, "unknown command 'frobnicate'"),
        ("if frob { keep; }", 1, "unknown test 'frob'"),
        (
            "if header :over \"a\" \"b\" { keep; }",
            1,
            "unknown or misplaced tag",
        ),
        ("if size 10 { keep; }", 1, ":over or :under"),
        (
            "if header :is :contains \"a\" \"b\" { keep; }",
            1,
            "only one match type",
        ),
        ("if header \"a\" { keep; }", 1, "missing the keys"),
        ("keep \"x\";", 1, "too many arguments"),
        ("redirect \"not an address\";", 1, "not an e-mail address"),
        (
            "require \"vacation\"; vacation :days 0 \"x\";",
            1,
            "at least 1",
        ),
        (
            "require \"variables\"; set \"1bad\" \"x\";",
            1,
            "not a valid variable name",
        ),
        (
            "require \"relational\"; if header :count \"bigger\" \"a\" \"1\" { keep; }",
            1,
            "gt, ge",
        ),
        (
            "if header :comparator \"i;ascii-numeric\" \"a\" \"1\" { keep; }",
            1,
            "comparator-i;ascii-numeric",
        ),
        ("if not (true, false) { keep; }", 1, "exactly one test"),
        ("if allof { keep; }", 1, "list of tests"),
        ("stop { keep; }", 1, "takes no block"),
    ];
    for (script, line, needle) in cases {
        let e = fails(script);
        assert!(e.message.contains(needle), "{script:?}: got {e}");
        assert_eq!(e.line, *line, "{script:?}: {e}");
    }
}

#[test]
fn hostile_input_is_refused_without_panicking() {
    // Deep nesting: bounded, not a stack overflow.
    let deep = "if ".to_string() + &"not ".repeat(10_000) + "true { keep; }";
    assert!(fails(&deep).message.contains("nested"));
    let blocks = "if true { ".repeat(5_000) + &"}".repeat(5_000);
    assert!(fails(&blocks).message.contains("nested"));
    // Oversized.
    let big = "#".repeat(MAX_SCRIPT_SIZE + 1);
    assert!(fails(&big).message.contains("limit"));
    // Not UTF-8, on line 2.
    let e = parse(b"keep;\n\xff;").unwrap_err();
    assert_eq!(e.line, 2);
    // Truncated at every byte: never a panic.
    let script = "require [\"fileinto\",\"vacation\"]; if header :contains \"subject\" \"x\" { fileinto \"a\"; } vacation :days 3 text:\nhi\n.\n;";
    for end in 0..script.len() {
        let _ = parse(&script.as_bytes()[..end]);
    }
}

#[test]
fn empty_and_comment_only_scripts_do_nothing() {
    assert_eq!(ok("").commands, vec![]);
    assert_eq!(ok("# chỉ có chú thích\n/* và khối */").commands, vec![]);
}
