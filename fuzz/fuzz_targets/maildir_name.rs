//! Maildir file-name parsing: never panics; renaming with the same flags gives back the
//! same unique name and flags.
#![no_main]
use libfuzzer_sys::fuzz_target;
use maildedup::identity::Flags;
use maildedup::store::maildir::{is_index_file, MaildirName};

fuzz_target!(|data: &[u8]| {
    let name = String::from_utf8_lossy(data);
    let n = MaildirName::parse(&name);
    assert!(name.starts_with(n.unique));
    if let Some(t) = n.timestamp {
        assert!(t >= 0);
    }
    let renamed = n.with_flags(n.flags);
    let again = MaildirName::parse(&renamed);
    assert_eq!(again.unique, n.unique);
    assert_eq!(again.flags, n.flags);
    let flags = Flags::from_maildir(n.flags);
    assert_eq!(Flags::from_maildir(&flags.to_string()), flags);
    let _ = MaildirName::parse(&n.with_flags(&flags.to_string()));
    let _ = is_index_file(&name);
});
