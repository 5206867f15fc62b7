"""Where an S3 root's credentials, region and endpoint come from, in s3fs's order.

fs_args first (``key``/``secret``/``token``, ``anon``, ``profile``, ``endpoint_url``,
``client_kwargs.region_name``/``endpoint_url``: what copick configs already hold), then
the AWS environment variables, then the shared files ``~/.aws/credentials`` and
``~/.aws/config`` (``AWS_SHARED_CREDENTIALS_FILE``/``AWS_CONFIG_FILE``, profile from
``profile`` or ``AWS_PROFILE``, else ``default``).  The secret and token never leave
this record except into the request signer: ``repr`` hides them and ``scrub`` takes
them out of any text a server or library sends back.
"""

from __future__ import annotations

import configparser
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from synctui.errors import ConnectionFailed, LocationError
from synctui.storage.options import S3Options

DEFAULT_REGION = "us-east-1"


@dataclass(frozen=True)
class S3Credentials:
    """One set of keys (or ``anon``: unsigned requests) and where it came from."""

    key: str | None = field(default=None, repr=False)
    secret: str | None = field(default=None, repr=False)
    token: str | None = field(default=None, repr=False)
    anon: bool = False
    source: str = ""

    def scrub(self, text: str) -> str:
        """``text`` with the access key, secret and token replaced by ``***``."""
        for value in (self.secret, self.token, self.key):
            if value and len(value) >= 4:
                text = text.replace(value, "***")
        return text


@dataclass(frozen=True)
class S3Settings:
    """Everything the store needs to reach its bucket."""

    credentials: S3Credentials
    region: str
    #: ``scheme://host[:port]`` without a path, or None for AWS itself
    endpoint: str | None

    @property
    def url(self) -> str:
        """Where requests go (path-style addressing)."""
        return self.endpoint or f"https://s3.{self.region}.amazonaws.com"


def endpoint_of(opts: S3Options, environ: Mapping[str, str] | None = None) -> str | None:
    """The endpoint URL the options name (or the environment), checked: http(s) only."""
    env = os.environ if environ is None else environ
    ck = opts.client_kwargs or {}
    raw = opts.endpoint_url or ck.get("endpoint_url") or env.get("AWS_ENDPOINT_URL_S3") \
        or env.get("AWS_ENDPOINT_URL")
    if not raw:
        return None
    text = str(raw).strip().rstrip("/")
    if opts.use_ssl is False and text.startswith("https://"):
        text = "http://" + text[len("https://"):]
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise LocationError(f"endpoint_url {text[:60]!r} is not an http:// or https:// URL")
    if parts.username or parts.password:
        raise LocationError("endpoint_url must not hold credentials (use key and secret in fs_args)")
    return f"{parts.scheme}://{parts.netloc}"


def _profiles(environ: Mapping[str, str]) -> tuple[configparser.ConfigParser, configparser.ConfigParser]:
    home = os.path.expanduser("~")
    creds = configparser.ConfigParser(interpolation=None)
    conf = configparser.ConfigParser(interpolation=None)
    for parser, var, default in ((creds, "AWS_SHARED_CREDENTIALS_FILE", ".aws/credentials"),
                                 (conf, "AWS_CONFIG_FILE", ".aws/config")):
        path = environ.get(var) or os.path.join(home, default)
        try:
            parser.read(path, encoding="utf-8")
        except (configparser.Error, UnicodeDecodeError) as exc:
            raise ConnectionFailed(f"cannot read the AWS file {path}: {type(exc).__name__}") from None
    return creds, conf


def _profile_section(conf: configparser.ConfigParser, name: str) -> Mapping[str, str]:
    for section in (f"profile {name}", name):
        if conf.has_section(section):
            return conf[section]
    return {}


def resolve(opts: S3Options, environ: Mapping[str, str] | None = None) -> S3Settings:
    """The credentials, region and endpoint of a root (ConnectionFailed when an explicitly
    named profile does not exist, or no credentials are found anywhere)."""
    env = os.environ if environ is None else environ
    endpoint = endpoint_of(opts, env)
    ck = opts.client_kwargs or {}
    region = ck.get("region_name") or opts.region_name
    profile_name = opts.profile or env.get("AWS_PROFILE") or None
    creds: S3Credentials | None = None
    if opts.anon:
        creds = S3Credentials(anon=True, source="anonymous (anon: true)")
    elif opts.key or opts.secret:
        if not (opts.key and opts.secret):
            raise ConnectionFailed("fs_args: key and secret go together (one of them is missing)")
        creds = S3Credentials(opts.key, opts.secret, opts.token, source="fs_args")
    elif not opts.profile and env.get("AWS_ACCESS_KEY_ID") and env.get("AWS_SECRET_ACCESS_KEY"):
        creds = S3Credentials(env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"],
                              env.get("AWS_SESSION_TOKEN") or None, source="environment")
    profile_region = None
    if creds is None or region is None:
        shared, conf = _profiles(env)
        name = profile_name or "default"
        section = shared[name] if shared.has_section(name) else {}
        config_section = _profile_section(conf, name)
        if creds is None and profile_name and not section and not config_section:
            raise ConnectionFailed(f"AWS profile {profile_name!r} is not in ~/.aws/credentials or ~/.aws/config")
        profile_region = config_section.get("region") or section.get("region")
        if creds is None:
            for where in (section, config_section):
                if where.get("aws_access_key_id") and where.get("aws_secret_access_key"):
                    creds = S3Credentials(where["aws_access_key_id"], where["aws_secret_access_key"],
                                          where.get("aws_session_token") or None, source=f"profile {name}")
                    break
    if creds is None:
        raise ConnectionFailed("no S3 credentials: set key and secret in the config's fs_args, "
                               "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, a profile in ~/.aws, "
                               "or anon: true for a public bucket")
    region = region or env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or profile_region \
        or DEFAULT_REGION
    return S3Settings(creds, str(region), endpoint)
