//! The "acknowledge / resolve" links in an incident's first message: a token that lets whoever
//! holds it move one incident forward, without a login, until it expires. Sealed like the
//! feedback links (`crate::feedback_link`), under another purpose, so neither passes for the
//! other. Moving an incident forward twice does nothing, so a token needs no spending.

use serde::{Deserialize, Serialize};

use crate::feedback_link::{LinkError, LinkKey, seal, unexpired, unseal};
use crate::incident::State;

const PURPOSE: &[u8] = b"anomstack incident link v1\n";

/// What a link lets its holder do: move incident `incident` to `to`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncidentClaim {
    pub incident: i64,
    /// Acknowledged or resolved.
    pub to: State,
    /// Unix seconds after which the link is refused.
    pub expires: i64,
}

#[derive(Serialize, Deserialize)]
struct Payload {
    i: i64,
    /// `ack` or `resolve`.
    a: String,
    e: i64,
}

pub fn mint(key: &LinkKey, claim: &IncidentClaim) -> String {
    let a = match claim.to {
        State::Resolved => "resolve",
        _ => "ack",
    };
    seal(
        key,
        PURPOSE,
        &Payload {
            i: claim.incident,
            a: a.to_owned(),
            e: claim.expires,
        },
    )
}

/// The claim of a token made with `key`, if it is whole, genuine and not expired at `now`.
pub fn verify(key: &LinkKey, token: &str, now: i64) -> Result<IncidentClaim, LinkError> {
    let p: Payload = unseal(key, PURPOSE, token)?;
    let to = match p.a.as_str() {
        "ack" => State::Acknowledged,
        "resolve" => State::Resolved,
        _ => return Err(LinkError::Malformed),
    };
    unexpired(p.e, now)?;
    Ok(IncidentClaim {
        incident: p.i,
        to,
        expires: p.e,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::feedback_link::{Claim, mint as mint_feedback};

    #[test]
    fn a_link_moves_one_incident_until_it_expires_and_no_feedback_link_passes_for_one() {
        let key = LinkKey::new(vec![3; 32]);
        let claim = IncidentClaim {
            incident: 7,
            to: State::Resolved,
            expires: 100,
        };
        let token = mint(&key, &claim);
        assert_eq!(verify(&key, &token, 100), Ok(claim.clone()));
        assert!(matches!(
            verify(&key, &token, 101),
            Err(LinkError::Expired(_))
        ));
        assert_eq!(
            verify(&LinkKey::new(vec![4; 32]), &token, 0),
            Err(LinkError::Forged)
        );
        let feedback = mint_feedback(
            &key,
            &Claim {
                batch: "b".into(),
                metric: "m".into(),
                at: chrono::NaiveDateTime::default(),
                verdict: crate::store::Feedback::Up,
                expires: 100,
                nonce: "n".into(),
            },
        );
        assert_eq!(
            verify(&key, &feedback, 0),
            Err(LinkError::Forged),
            "another purpose's mac"
        );
        let ack = mint(
            &key,
            &IncidentClaim {
                to: State::Acknowledged,
                ..claim
            },
        );
        assert_eq!(verify(&key, &ack, 0).map(|c| c.to), Ok(State::Acknowledged));
    }
}
