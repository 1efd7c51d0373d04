//! Ethernet II view and value on arbitrary bytes: no panics, consistent lengths, and every
//! `EthernetRepr` that parses survives emit + parse unchanged.

#![no_main]

use eth::wire::{EtherType, EthernetFrame, EthernetRepr};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The value parser checks lengths itself, so it must cope with an unchecked view too.
    let _ = EthernetRepr::parse(&EthernetFrame::new_unchecked(data));

    let Ok(frame) = EthernetFrame::new_checked(data) else {
        return;
    };
    let tags = frame.tag_count();
    assert!(tags <= eth::wire::ethernet::MAX_TAGS);
    assert_eq!(
        frame.header_len(),
        eth::wire::ethernet::HEADER_LEN + 4 * tags
    );
    assert!(frame.check_len().is_ok());
    let (dst, src, ethertype) = (frame.dst(), frame.src(), frame.ethertype());
    assert_eq!(frame.vlan().is_some(), tags >= 1);
    assert_eq!(frame.inner_vlan().is_some(), tags == 2);
    assert_eq!(frame.header_len() + frame.payload().len(), data.len());
    assert_eq!(frame.as_ref(), data);

    let Ok(repr) = EthernetRepr::parse(&frame) else {
        assert_eq!(tags, 2, "only stacked tags are refused after new_checked");
        return;
    };
    assert_eq!((repr.dst, repr.src, repr.ethertype), (dst, src, ethertype));
    assert_eq!(repr.vlan, frame.vlan());
    assert_eq!(repr.header_len(), frame.header_len());
    // A tag TPID here would make the re-emitted frame read as double-tagged.
    assert!(ethertype != EtherType::VLAN && ethertype != EtherType::QINQ);

    // An 802.1ad S-tag alone comes back as an 802.1Q tag (emit always writes 0x8100), so
    // the values are compared, not the bytes.
    let mut buf = vec![0u8; repr.header_len()];
    repr.emit(&mut EthernetFrame::new_unchecked(&mut buf[..]));
    let again = EthernetFrame::new_checked(&buf[..]).expect("emitted header is complete");
    assert_eq!(EthernetRepr::parse(&again), Ok(repr));
    assert!(again.payload().is_empty());
    assert_eq!(frame.into_inner(), data);
});
