//! Pieces of SIPp scenarios, spliced into `tests/sipp/agent.xml` (the agent
//! phone's whole exchange) and `tests/sipp/carrier.xml` (after the
//! carrier sends it).

/// Agent phone: rings, answers, waits for the far end's BYE.
pub const AGENT_ANSWERS: &str = concat!(
    RECV_INVITE!(),
    RINGING!(),
    ANSWER!(),
    r#"
  <recv request="ACK" crlf="true"/>
  <recv request="BYE"/>
  <send><![CDATA[

      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0

    ]]></send>
"#
);

/// Agent phone: rings, answers, then hangs up itself.
pub const AGENT_ANSWERS_AND_HANGS_UP: &str = concat!(
    r#"
  <recv request="INVITE" crlf="true" rrs="true">
    <action>
      <!-- The switch's From, to use as To when the agent hangs up. -->
      <ereg regexp=".*" search_in="hdr" header="From:" check_it="true" assign_to="switch_from"/>
    </action>
  </recv>
"#,
    RINGING!(),
    ANSWER!(),
    r#"
  <recv request="ACK" crlf="true"/>
  <pause milliseconds="300"/>
  <send retrans="500"><![CDATA[

      BYE [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:agent@[local_ip]:[local_port]>;tag=[pid]A[call_number]
      To: [$switch_from]
      [last_Call-ID:]
      CSeq: 1 BYE
      Max-Forwards: 70
      Content-Length: 0

    ]]></send>
  <recv response="200" crlf="true"/>
"#
);

/// Agent phone: busy.
pub const AGENT_BUSY: &str = concat!(
    RECV_INVITE!(),
    r#"
  <send><![CDATA[

      SIP/2.0 486 Busy Here
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]A[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0

    ]]></send>
  <recv request="ACK" crlf="true"/>
"#
);

/// Agent phone: rings until the switch cancels the offer.
pub const AGENT_RINGS_UNTIL_CANCELLED: &str = concat!(
    RECV_INVITE!(),
    RINGING!(),
    r#"
  <recv request="CANCEL"/>
  <send><![CDATA[

      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]A[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0

    ]]></send>
  <send><![CDATA[

      SIP/2.0 487 Request Terminated
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]A[call_number]
      [last_Call-ID:]
      CSeq: [last_cseq_number] INVITE
      Content-Length: 0

    ]]></send>
  <recv request="ACK" crlf="true"/>
"#
);

/// Carrier: the call is answered; the carrier hangs up.
pub const CARRIER_ANSWERED_HANGS_UP: &str = concat!(
    EXPECT_ANSWER!(),
    r#"
  <pause milliseconds="300"/>
  <send retrans="500"><![CDATA[

      BYE [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch];rport
      From: "Customer" <sip:+15551234567@[local_ip]:[local_port]>;tag=[pid]C[call_number]
      [last_To:]
      [last_Call-ID:]
      CSeq: 2 BYE
      Max-Forwards: 70
      Content-Length: 0

    ]]></send>
  <recv response="200" crlf="true"/>
"#
);

/// Carrier: the call is answered; the agent hangs up.
pub const CARRIER_ANSWERED_AGENT_HANGS_UP: &str = concat!(
    EXPECT_ANSWER!(),
    r#"
  <recv request="BYE"/>
  <send><![CDATA[

      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0

    ]]></send>
"#
);

/// Carrier: hears ringing, gives up with CANCEL.
pub const CARRIER_CANCELS: &str = r#"
  <recv response="180"/>
  <send><![CDATA[

      CANCEL sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=z9hG4bK-[pid]-[call_number]-inv;rport
      From: "Customer" <sip:+15551234567@[local_ip]:[local_port]>;tag=[pid]C[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>
      [last_Call-ID:]
      CSeq: 1 CANCEL
      Max-Forwards: 70
      Content-Length: 0

    ]]></send>
  <recv response="200"/>
  <recv response="487"/>
  <send><![CDATA[

      ACK sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=z9hG4bK-[pid]-[call_number]-inv;rport
      From: "Customer" <sip:+15551234567@[local_ip]:[local_port]>;tag=[pid]C[call_number]
      [last_To:]
      [last_Call-ID:]
      CSeq: 1 ACK
      Max-Forwards: 70
      Content-Length: 0

    ]]></send>
"#;

/// Carrier: the call fails with `@STATUS@` (set by the test) and is ACKed.
pub const CARRIER_REFUSED: &str = r#"
  <recv response="180" optional="true"/>
  <recv response="@STATUS@"/>
  <send><![CDATA[

      ACK sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=z9hG4bK-[pid]-[call_number]-inv;rport
      From: "Customer" <sip:+15551234567@[local_ip]:[local_port]>;tag=[pid]C[call_number]
      [last_To:]
      [last_Call-ID:]
      CSeq: 1 ACK
      Max-Forwards: 70
      Content-Length: 0

    ]]></send>
"#;

/// The agent's side of a call out that the carrier answers: ACK, then the
/// agent hangs up.
pub const AGENT_CALL_ANSWERED: &str = r#"
  <recv response="180" optional="true"/>
  <recv response="200" rrs="true"/>
  <send><![CDATA[

      ACK [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=z9hG4bK-[pid]-[call_number]-a;rport
      From: <sip:@USER@@[remote_ip]>;tag=[pid]F[call_number]
      [last_To:]
      Call-ID: [call_id]
      CSeq: 2 ACK
      Max-Forwards: 70
      Content-Length: 0

    ]]></send>
  <pause milliseconds="200"/>
  <send retrans="500"><![CDATA[

      BYE [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=z9hG4bK-[pid]-[call_number]-b;rport
      From: <sip:@USER@@[remote_ip]>;tag=[pid]F[call_number]
      [last_To:]
      Call-ID: [call_id]
      CSeq: 3 BYE
      Max-Forwards: 70
      Content-Length: 0

    ]]></send>
  <recv response="200" crlf="true"/>
"#;

macro_rules! RECV_INVITE {
    () => {
        r#"
  <recv request="INVITE" crlf="true" rrs="true"/>
"#
    };
}

macro_rules! RINGING {
    () => {
        r#"
  <send><![CDATA[

      SIP/2.0 180 Ringing
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]A[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Contact: <sip:agent@[local_ip]:[local_port]>
      Content-Length: 0

    ]]></send>
"#
    };
}

macro_rules! ANSWER {
    () => {
        r#"
  <send retrans="500"><![CDATA[

      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]A[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Contact: <sip:agent@[local_ip]:[local_port]>
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=agent 53655765 2353687637 IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio [media_port] RTP/AVP 0
      a=rtpmap:0 PCMU/8000

    ]]></send>
"#
    };
}

macro_rules! EXPECT_ANSWER {
    () => {
        r#"
  <recv response="180" optional="true"/>
  <recv response="200" rrs="true"/>
  <send><![CDATA[

      ACK [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch];rport
      From: "Customer" <sip:+15551234567@[local_ip]:[local_port]>;tag=[pid]C[call_number]
      [last_To:]
      [last_Call-ID:]
      CSeq: 1 ACK
      Max-Forwards: 70
      Content-Length: 0

    ]]></send>
"#
    };
}

use {ANSWER, EXPECT_ANSWER, RECV_INVITE, RINGING};

/// Feature code (tests/sipp/feature.xml): answered 200 with an inactive
/// SDP; the phone ACKs and the switch hangs up at once.
pub const FEATURE_DONE: &str = r#"
  <recv response="200" rrs="true">
    <action>
      <ereg regexp="a=inactive" search_in="body" check_it="true" assign_to="inactive"/>
    </action>
  </recv>
  <Reference variables="inactive"/>
  <send><![CDATA[

      ACK [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch];rport
      From: <sip:@USER@@[remote_ip]>;tag=[pid]F[call_number]
      [last_To:]
      Call-ID: [call_id]
      CSeq: 2 ACK
      Max-Forwards: 70
      Content-Length: 0

    ]]></send>
  <recv request="BYE"/>
  <send><![CDATA[

      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0

    ]]></send>
"#;

/// Feature code refused with `@STATUS@` (set by the test), ACKed.
pub const FEATURE_REFUSED: &str = r#"
  <recv response="@STATUS@"/>
  <send><![CDATA[

      ACK sip:@CODE@@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=z9hG4bK-[pid]-[call_number]-f2;rport
      From: <sip:@USER@@[remote_ip]>;tag=[pid]F[call_number]
      [last_To:]
      Call-ID: [call_id]
      CSeq: 2 ACK
      Max-Forwards: 70
      Content-Length: 0

    ]]></send>
"#;

/// Agent phone with anchored media: the INVITE's SDP must name the switch
/// (`@MEDIA_RE@`, set by the test, matches its c= and m= lines); it answers
/// with audio at `@AGENT_RTP@` (a test socket) and waits for the BYE.
pub const AGENT_ANSWERS_MEDIA_AT: &str = r#"
  <recv request="INVITE" crlf="true" rrs="true">
    <action>
      <ereg regexp="@MEDIA_RE@" search_in="body" check_it="true" assign_to="anchored"/>
    </action>
  </recv>
  <Reference variables="anchored"/>
  <send retrans="500"><![CDATA[

      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]A[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Contact: <sip:agent@[local_ip]:[local_port]>
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=agent 53655765 2353687637 IN IP4 127.0.0.1
      s=-
      c=IN IP4 127.0.0.1
      t=0 0
      m=audio @AGENT_RTP@ RTP/AVP 0
      a=rtpmap:0 PCMU/8000

    ]]></send>
  <recv request="ACK" crlf="true"/>
  <recv request="BYE"/>
  <send><![CDATA[

      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0

    ]]></send>
"#;

/// Carrier with anchored media: the 200's SDP must name the switch
/// (`@MEDIA_RE@`); after the ACK it plays `@PCAP@` (G.711 RTP) to it,
/// then hangs up.
pub const CARRIER_PLAYS_PCAP: &str = r#"
  <recv response="180" optional="true"/>
  <recv response="200" rrs="true">
    <action>
      <ereg regexp="@MEDIA_RE@" search_in="body" check_it="true" assign_to="anchored"/>
    </action>
  </recv>
  <Reference variables="anchored"/>
  <send><![CDATA[

      ACK [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch];rport
      From: "Customer" <sip:+15551234567@[local_ip]:[local_port]>;tag=[pid]C[call_number]
      [last_To:]
      [last_Call-ID:]
      CSeq: 1 ACK
      Max-Forwards: 70
      Content-Length: 0

    ]]></send>
  <nop>
    <action>
      <exec play_pcap_audio="@PCAP@"/>
    </action>
  </nop>
  <pause milliseconds="3500"/>
  <send retrans="500"><![CDATA[

      BYE [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch];rport
      From: "Customer" <sip:+15551234567@[local_ip]:[local_port]>;tag=[pid]C[call_number]
      [last_To:]
      [last_Call-ID:]
      CSeq: 2 BYE
      Max-Forwards: 70
      Content-Length: 0

    ]]></send>
  <recv response="200" crlf="true"/>
"#;

/// The carrier's side of a call out (UAS, in `tests/sipp/agent.xml`): the
/// INVITE must ask for `@NUMBER@` and carry the switch's SDP (`@MEDIA_RE@`);
/// it rings, answers with audio at its media port (run it with
/// `-rtp_echo` to send back what it hears) and waits for the BYE.
pub const CARRIER_UAS_ANSWERS: &str = r#"
  <recv request="INVITE" crlf="true">
    <action>
      <ereg regexp="^INVITE sip:@NUMBER@@" search_in="msg" check_it="true" assign_to="number"/>
      <ereg regexp="@MEDIA_RE@" search_in="body" check_it="true" assign_to="anchored"/>
    </action>
  </recv>
  <Reference variables="number,anchored"/>
  <send><![CDATA[

      SIP/2.0 180 Ringing
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]K[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Contact: <sip:carrier@[local_ip]:[local_port]>
      Content-Length: 0

    ]]></send>
  <send retrans="500"><![CDATA[

      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]K[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Contact: <sip:carrier@[local_ip]:[local_port]>
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=carrier 53655765 2353687637 IN IP4 [local_ip]
      s=-
      c=IN IP4 [media_ip]
      t=0 0
      m=audio [media_port] RTP/AVP 8
      a=rtpmap:8 PCMA/8000

    ]]></send>
  <recv request="ACK" crlf="true"/>
  <recv request="BYE"/>
  <send><![CDATA[

      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0

    ]]></send>
"#;

/// The caller (after `carrier.xml`'s INVITE): hears the queue (183),
/// answered, talks 3 s, hangs up.
pub const CALLER_TALKS_THEN_HANGS_UP: &str = r#"
  <recv response="183" optional="true"/>
  <recv response="180" optional="true"/>
  <recv response="200" rrs="true"/>
  <send><![CDATA[

      ACK [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch];rport
      From: "Customer" <sip:+15551234567@[local_ip]:[local_port]>;tag=[pid]C[call_number]
      [last_To:]
      [last_Call-ID:]
      CSeq: 1 ACK
      Max-Forwards: 70
      Content-Length: 0

    ]]></send>
  <pause milliseconds="3000"/>
  <send retrans="500"><![CDATA[

      BYE [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch];rport
      From: "Customer" <sip:+15551234567@[local_ip]:[local_port]>;tag=[pid]C[call_number]
      [last_To:]
      [last_Call-ID:]
      CSeq: 2 BYE
      Max-Forwards: 70
      Content-Length: 0

    ]]></send>
  <recv response="200" crlf="true"/>
"#;

/// A transferring agent after its transfer went through: the switch
/// hangs it up.
pub const AGENT_RELEASED: &str = r#"
  <recv request="BYE"/>
  <send><![CDATA[

      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0

    ]]></send>
"#;
