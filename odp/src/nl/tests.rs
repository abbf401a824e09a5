use super::*;

#[test]
fn attrs_mask_nested_flag_and_keep_type_zero() {
    // type 0 (tunnel id), len 12; then type 0x8001 (nested flag), len 4.
    let b = [12, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 4, 0, 1, 0x80];
    let v: Vec<_> = attrs(&b).collect::<Result<_>>().unwrap();
    assert_eq!(v.len(), 2);
    assert_eq!(v[0].ty, 0);
    assert_eq!(v[0].payload, &[1, 2, 3, 4, 5, 6, 7, 8]);
    assert_eq!(v[1].ty, 1);
    assert!(v[1].nested_flag);
}

#[test]
fn attrs_reject_bad_lengths() {
    assert!(attrs(&[3, 0, 1, 0]).next().unwrap().is_err());
    assert!(attrs(&[9, 0, 1, 0, 0, 0]).next().unwrap().is_err());
    let r: Result<Vec<_>> = attrs(&[4, 0, 1, 0, 0, 0]).collect();
    assert_eq!(r.unwrap_err().errno(), crate::errno::EINVAL);
}

#[test]
fn last_attribute_may_be_unpadded() {
    let b = [5, 0, 1, 0, 0xaa];
    let v: Vec<_> = attrs(&b).collect::<Result<_>>().unwrap();
    assert_eq!(v[0].payload, &[0xaa]);
}

#[test]
fn nest_written_without_nested_flag() {
    let mut buf = Vec::new();
    let mut w = AttrWriter::new(&mut buf);
    w.nest(16, |w| w.u8(4, 64));
    w.finish().unwrap();
    assert_eq!(buf, [12, 0, 16, 0, 5, 0, 4, 0, 64, 0, 0, 0]);
}

#[test]
fn error_message_round_trip_with_ext_ack() {
    let req = NlMsgHeader {
        len: 20,
        ty: 0x1d,
        flags: 5,
        seq: 7,
        pid: 99,
    };
    let m = ErrorMsg {
        error: -22,
        request: req,
        request_payload: vec![1, 0, 0, 0],
        ext_msg: Some("bad".into()),
        ext_offset: Some(20),
        ext_miss_type: None,
    };
    let mut buf = Vec::new();
    m.emit(&mut buf).unwrap();
    let (h, p) = messages(&buf).next().unwrap().unwrap();
    assert_eq!(h.ty, NLMSG_ERROR);
    assert_eq!(h.seq, 7);
    match classify(&h, p).unwrap() {
        Control::Error(e) => assert_eq!(e, m),
        other => panic!("{other:?}"),
    }
}

#[test]
fn ack_is_capped_and_done_parses() {
    let m = ErrorMsg {
        request: NlMsgHeader {
            len: 40,
            ty: 30,
            flags: 5,
            seq: 1,
            pid: 2,
        },
        ..Default::default()
    };
    let mut buf = Vec::new();
    m.emit(&mut buf).unwrap();
    assert_eq!(buf.len(), 36);
    emit_done(&mut buf, 1, 2, -19);
    let all: Vec<_> = messages(&buf).collect::<Result<_>>().unwrap();
    assert_eq!(all.len(), 2);
    assert_eq!(classify(&all[1].0, all[1].1).unwrap(), Control::Done(-19));
    let Control::Error(e) = classify(&all[0].0, all[0].1).unwrap() else {
        panic!()
    };
    assert_eq!(e.error, 0);
    assert_eq!(e.request.seq, 1);
}

#[test]
fn error_from_typed_error() {
    let req = NlMsgHeader {
        len: 24,
        ty: 30,
        flags: 5,
        seq: 3,
        pid: 9,
    };
    let e = ErrorMsg::from_error(req, &[1, 2, 0, 0, 0, 0, 0, 0], &Error::NoDevice);
    assert_eq!(e.error, -crate::errno::ENODEV);
    let mut b = Vec::new();
    e.emit(&mut b).unwrap();
    let (h, p) = messages(&b).next().unwrap().unwrap();
    assert_eq!(classify(&h, p).unwrap(), Control::Error(e));
    assert_eq!(ErrorMsg::ack(req).error, 0);
}

#[test]
fn messages_reject_short_len() {
    let mut b = vec![0u8; 16];
    b[0] = 8;
    assert!(messages(&b).next().unwrap().is_err());
    b[0] = 200;
    assert!(messages(&b).next().unwrap().is_err());
}
