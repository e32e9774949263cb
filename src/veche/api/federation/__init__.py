"""The federation resource: /_matrix/federation/... route modules and the request
authentication every authenticated endpoint starts with:

    origin = await hs.server_auth.require(request)      # 401 M_UNAUTHORIZED if unsigned
    body = await read_federation_body(request)           # the JSON that was authenticated
    await hs.federation.acl.check(room_id, origin)       # 403 M_FORBIDDEN if ACL denies

Key endpoints (/_matrix/key/v2/...) are in `veche.api.keys`; both are served by listeners
with the `federation` resource.
"""
