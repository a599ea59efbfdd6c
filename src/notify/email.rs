//! Email through SMTP (lettre): a multipart message with a plain-text part and an HTML part
//! that shows the chart inline, plus the chart as an attachment, to every recipient.

use std::time::Duration;

use lettre::message::header::ContentType;
use lettre::message::{Attachment, Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

use super::NotifyError;
use super::message::Message;
use crate::config::{EmailSettings, SmtpTls};

const CHART_CID: &str = "anomstack-chart";
const SMTP_TIMEOUT: Duration = Duration::from_secs(30);

/// Builds the MIME message.
pub fn build(
    settings: &EmailSettings,
    to: &[String],
    msg: &Message,
    chart: Option<&[u8]>,
) -> Result<lettre::Message, NotifyError> {
    let bad = |what: &str, e: &dyn std::fmt::Display| NotifyError::Email(format!("{what}: {e}"));
    let from: Mailbox = settings
        .from
        .parse()
        .map_err(|e| bad(&format!("sender address {:?}", settings.from), &e))?;
    let mut builder = lettre::Message::builder().from(from);
    // An incident's later messages answer its first, so mail clients show one thread.
    builder = match &msg.incident {
        Some(i) if i.opens => builder
            .subject(msg.title.clone())
            .message_id(Some(i.email_message_id.clone())),
        Some(i) => builder
            .subject(format!("Re: [incident #{}] {}", i.id, i.subject))
            .in_reply_to(i.email_message_id.clone())
            .references(i.email_message_id.clone()),
        None => builder.subject(msg.title.clone()),
    };
    for address in to {
        let mailbox: Mailbox = address
            .parse()
            .map_err(|e| bad(&format!("recipient address {address:?}"), &e))?;
        builder = builder.to(mailbox);
    }
    let png = ContentType::parse("image/png").map_err(|e| bad("content type", &e))?;
    let html = msg.html(chart.map(|_| CHART_CID)).into_string();
    let body = match chart {
        Some(bytes) => {
            let related = MultiPart::related()
                .singlepart(SinglePart::html(html))
                .singlepart(
                    Attachment::new_inline(CHART_CID.to_owned()).body(bytes.to_vec(), png.clone()),
                );
            let alternative = MultiPart::alternative()
                .singlepart(SinglePart::plain(msg.text()))
                .multipart(related);
            MultiPart::mixed()
                .multipart(alternative)
                .singlepart(Attachment::new(msg.chart_name()).body(bytes.to_vec(), png))
        }
        None => MultiPart::alternative()
            .singlepart(SinglePart::plain(msg.text()))
            .singlepart(SinglePart::html(html)),
    };
    builder
        .multipart(body)
        .map_err(|e| bad("cannot build the message", &e))
}

/// Sends `msg` to `to` (the configured recipients unless a route chose others).
pub async fn send(
    settings: &EmailSettings,
    to: &[String],
    msg: &Message,
    chart: Option<&[u8]>,
) -> Result<(), NotifyError> {
    if to.is_empty() {
        return Err(NotifyError::Email("no recipients".into()));
    }
    let mail = build(settings, to, msg, chart)?;
    let builder = match settings.tls {
        SmtpTls::StartTls => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&settings.host),
        SmtpTls::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(&settings.host),
        SmtpTls::None => Ok(AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(
            &settings.host,
        )),
    }
    .map_err(|e| NotifyError::Email(format!("SMTP server {}: {e}", settings.host)))?
    .port(settings.port)
    .timeout(Some(SMTP_TIMEOUT));
    let builder = if settings.password.is_empty() {
        builder
    } else {
        builder.credentials(Credentials::new(
            settings.username.clone(),
            settings.password.expose().to_owned(),
        ))
    };
    builder
        .build()
        .send(mail)
        .await
        .map(|_| ())
        .map_err(|e| NotifyError::Email(format!("SMTP {}:{}: {e}", settings.host, settings.port)))
}
