-- Which device a device-list change was about (NULL: cross-signing keys, a remote user's
-- list, or a change recorded before this column). A local user's device changes are the
-- sequence their m.device_list_update EDUs number (stream_id, prev_id) and /user/devices
-- continues from, so a cross-signing change does not open a gap in it.
ALTER TABLE device_list_changes ADD COLUMN device_id TEXT;
