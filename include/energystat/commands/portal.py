"""`energystat portal`: serve the upload portal (报送门户); `energystat portal user add|list`: its accounts."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("portal", help="serve the upload portal on http://localhost:8090 (报送门户), manage its users")
    p.add_argument("--host", help="address to listen on (default ENERGYSTAT_PORTAL_HOST or 127.0.0.1)")
    p.add_argument("--port", type=int, help="port (default ENERGYSTAT_PORTAL_PORT or 8090; 0 = any free port)")
    p.set_defaults(handler=_serve)
    actions = p.add_subparsers(dest="portal_command", metavar="ACTION")
    user = actions.add_parser("user", help="portal accounts")
    user_actions = user.add_subparsers(dest="user_command", required=True, metavar="ACTION")
    add = user_actions.add_parser("add", help="create an account (or reset its password); prints a generated password once")
    add.add_argument("--role", choices=("city", "governance"), required=True)
    add.add_argument("--reporter", help="reporter code of a city account, e.g. 450100")
    add.add_argument("--username", help="login name (default: the reporter code for city accounts, `governance` otherwise)")
    add.add_argument("--name", help="display name, e.g. 南宁市统计员")
    add.add_argument("--prompt", action="store_true", help="type the password instead of generating one")
    add.set_defaults(handler=_user_add)
    listing = user_actions.add_parser("list", help="list the accounts")
    listing.set_defaults(handler=_user_list)


def _serve(args: argparse.Namespace) -> int:
    import dataclasses

    import uvicorn

    from energystat import config, migrate, warehouse
    from energystat.portal.app import create_app

    settings = config.portal_settings()
    settings = dataclasses.replace(settings, host=args.host or settings.host,
                                   port=settings.port if args.port is None else args.port)
    if settings.dsn is None and warehouse.is_embedded():  # the laptop default: make sure it runs and is migrated
        migrate.migrate(warehouse.warehouse_dsn())  # (a server's portal has no owner's credentials: see portal_dsn)
    print(f"报送门户 portal: http://{'localhost' if settings.host in ('127.0.0.1', '0.0.0.0') else settings.host}"
          f":{settings.port}  (Ctrl-C to stop)", flush=True)
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_level="info",
                proxy_headers=False, server_header=False)
    return 0


def _user_add(args: argparse.Namespace) -> int:
    import getpass
    import sys

    from energystat import migrate, warehouse
    from energystat.portal import accounts

    if args.role == "city" and not args.reporter:
        print("a city account needs --reporter (e.g. 450100)", file=sys.stderr)
        return 2
    username = args.username or (args.reporter if args.role == "city" else "governance")
    if args.prompt:
        password = getpass.getpass("新密码 new password: ")
        if password != getpass.getpass("再次输入 again: "):
            print("两次输入不一致 (the passwords differ)", file=sys.stderr)
            return 2
    else:
        password = accounts.generate_password()
    dsn = warehouse.warehouse_dsn()
    migrate.migrate(dsn)
    try:
        user = accounts.add_user(dsn, username, args.role, args.reporter, password, args.name)
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 2
    print(f"用户 user: {user.username}  角色 role: {user.role}  报送单位 reporter: {user.reporter_code or '全部 all'}")
    if not args.prompt:
        print(f"密码 password (shown once, store it safely): {password}")
    return 0


def _user_list(args: argparse.Namespace) -> int:
    from energystat import warehouse
    from energystat.portal import accounts

    for username, role, reporter, name, disabled, created in accounts.list_users(warehouse.warehouse_dsn()):
        state = " (disabled)" if disabled else ""
        print(f"{username:<20}{role:<12}{reporter or '-':<8}{name or '':<16}{created:%Y-%m-%d}{state}")
    return 0
