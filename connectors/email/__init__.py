"""The email channel: IMAP in (or a Mailgun route), SMTP out, on the shared inbox pipeline
(connectors/webhook).

One module per job: `html` (HTML mail → text), `text` (new text out of a reply), `robots`
(loop protection), `message` (raw bytes → `ParsedEmail`), `state` (what the channel keeps in
Redis), `compose` (our replies), `imap` (reader), `smtp` (sender), `mailgun` (signed inbound
route), `config` (EMAIL_* settings), `channel` (the Rasa input and output channels).
"""
