-- Run once against Asterisk's realtime database (realtime backend).
-- Asterisk's stock iaxfriends table has no columns for these options; chan_iax2
-- reads any extra column as an option of the same name. The sidecar refuses to
-- write peers until they exist, because without them a trunk would run without
-- forced encryption, without a call limit or without an address filter.
-- deny must come before permit: chan_iax2 applies columns in table order and the
-- last matching ACL rule wins.
ALTER TABLE iaxfriends
  ADD COLUMN forceencryption VARCHAR(10) NULL,
  ADD COLUMN maxcallnumbers VARCHAR(10) NULL,
  ADD COLUMN deny VARCHAR(95) NULL,
  ADD COLUMN permit VARCHAR(95) NULL;
-- The sidecar's database user needs SELECT, INSERT, UPDATE, DELETE on iaxfriends
-- and extensions; Asterisk's own user needs UPDATE on iaxfriends (it writes
-- ipaddr, port and regseconds back, and the sidecar leaves those alone).
