#!/usr/bin/python3
"""Schema checks for configuration files whose programs cannot run here.

  check-config.py traefik STATIC DYNAMIC HOST UPSTREAM EMAIL
  check-config.py kamal DEPLOY_YML WEB_ADDR[,WEB_ADDR] ACCESSORY_NAME ACCESSORY_ADDR PROXY_HOST

Traefik: the keys of Traefik v3's static and file-provider dynamic
configuration as documented (entryPoints, certificatesResolvers.acme,
providers.file, http.routers/services/middlewares). Kamal: the keys Kamal 2
requires of config/deploy.yml (service, image, servers, registry, builder.arch)
and the ones the layout fills in; a key Kamal 2 does not know (it refuses
those) is a problem too. Prints every problem; exit 1 when any.
"""
import re
import sys
import urllib.parse

import yaml

problems = []


def need(cond, msg):
    if not cond:
        problems.append(msg)
    return cond


def get(d, path):
    for k in path.split("."):
        if not isinstance(d, dict) or k not in d:
            return None
        d = d[k]
    return d


def only_keys(d, allowed, where):
    if need(isinstance(d, dict), f"{where} is not a mapping"):
        for k in d:
            need(k in allowed, f"unknown key {where}.{k}")


def traefik(static_path, dynamic_path, host, upstream, email):
    st = yaml.safe_load(open(static_path))
    dy = yaml.safe_load(open(dynamic_path))
    only_keys(st, {"entryPoints", "certificatesResolvers", "providers", "api", "ping", "log",
                   "accessLog", "global", "metrics", "tracing", "serversTransport"}, "static")
    eps = get(st, "entryPoints") or {}
    for name, port in (("web", ":80"), ("websecure", ":443")):
        need(get(eps, f"{name}.address") == port, f"entryPoints.{name}.address is not {port}")
    need(get(eps, "web.http.redirections.entryPoint.to") == "websecure",
         "web does not redirect to websecure")
    need(get(eps, "web.http.redirections.entryPoint.scheme") == "https",
         "the redirect is not to https")
    resolvers = get(st, "certificatesResolvers") or {}
    need(resolvers, "no certificatesResolvers")
    for name, r in resolvers.items():
        acme = get(r, "acme") or {}
        need(acme.get("email") == email, f"resolver {name}: acme.email is not {email}")
        need(str(acme.get("storage", "")).startswith("/"), f"resolver {name}: no storage path")
        ep = get(acme, "httpChallenge.entryPoint")
        need(ep in eps, f"resolver {name}: httpChallenge entry point {ep} is not defined")
    need(str(get(st, "providers.file.directory") or "").startswith("/"),
         "providers.file.directory is not an absolute path")

    only_keys(dy, {"http", "tcp", "udp", "tls"}, "dynamic")
    routers = get(dy, "http.routers") or {}
    services = get(dy, "http.services") or {}
    middlewares = get(dy, "http.middlewares") or {}
    need(routers, "no routers")
    hosts = []
    for name, r in routers.items():
        only_keys(r, {"rule", "entryPoints", "service", "middlewares", "tls", "priority"},
                  f"router {name}")
        m = re.fullmatch(r"Host\(`([^`]+)`\)", str(r.get("rule", "")))
        if need(m, f"router {name}: rule {r.get('rule')!r} is not Host(`...`)"):
            hosts.append(m.group(1))
        for ep in r.get("entryPoints", []):
            need(ep in eps, f"router {name}: entry point {ep} is not defined")
        need(r.get("service") in services, f"router {name}: service {r.get('service')} is not defined")
        for mw in r.get("middlewares", []):
            need(mw in middlewares, f"router {name}: middleware {mw} is not defined")
        need(get(r, "tls.certResolver") in resolvers, f"router {name}: certResolver is not defined")
    need(host in hosts, f"no router for {host}")
    for name, s in services.items():
        servers = get(s, "loadBalancer.servers") or []
        need(servers, f"service {name}: no servers")
        for srv in servers:
            u = urllib.parse.urlparse(srv.get("url", ""))
            need(u.scheme in ("http", "https") and u.netloc, f"service {name}: bad url {srv}")
    need(any(srv.get("url") == f"http://{upstream}"
             for s in services.values() for srv in (get(s, "loadBalancer.servers") or [])),
         f"no service points at http://{upstream}")
    for name, mw in middlewares.items():
        need(len(mw) == 1, f"middleware {name} must have exactly one type")
    need(get(middlewares, "provision-headers.headers.stsSeconds"), "no HSTS header middleware")


# The keys Kamal 2 accepts (its configuration documentation); Kamal refuses
# any other, except top-level extensions named x-...
KAMAL_KEYS = {"service", "image", "labels", "volumes", "registry", "servers", "env", "asset_path",
              "hooks_path", "hooks_output", "secrets_path", "error_pages_path",
              "require_destination", "primary_role", "allow_empty_roles", "retain_containers",
              "minimum_version", "readiness_delay", "deploy_timeout", "drain_timeout",
              "run_directory", "ssh", "builder", "accessories", "proxy", "sshkit", "boot",
              "logging", "output", "aliases"}
KAMAL_PROXY = {"host", "hosts", "app_port", "ssl", "certificate_pem", "private_key_pem",
               "ssl_redirect", "forward_headers", "response_timeout", "healthcheck", "buffering",
               "logging"}
KAMAL_REGISTRY = {"server", "username", "password"}
KAMAL_SSH = {"user", "port", "proxy", "proxy_command", "log_level", "keys_only", "keys",
             "key_data", "config"}
KAMAL_BUILDER = {"driver", "arch", "remote", "local", "cache", "context", "dockerfile", "target",
                 "args", "secrets", "ssh", "provenance", "sbom", "pack"}
KAMAL_ROLE = {"hosts", "cmd", "options", "logging", "proxy", "labels", "env", "asset_path"}
KAMAL_ACCESSORY = {"service", "image", "registry", "host", "hosts", "role", "roles", "tag", "tags",
                   "cmd", "port", "labels", "options", "env", "files", "directories", "volumes",
                   "network", "proxy"}


def kamal(path, web, acc_name, acc_addr, proxy_host):
    d = yaml.safe_load(open(path))
    if not need(isinstance(d, dict), "deploy.yml is not a mapping"):
        return
    only_keys({k: v for k, v in d.items() if not str(k).startswith("x-")}, KAMAL_KEYS, "deploy")
    for key, allowed in (("proxy", KAMAL_PROXY), ("registry", KAMAL_REGISTRY),
                         ("ssh", KAMAL_SSH), ("builder", KAMAL_BUILDER)):
        if key in d:
            only_keys(d[key], allowed, key)
    for role, conf in (d.get("servers") or {}).items():
        if isinstance(conf, dict):
            only_keys(conf, KAMAL_ROLE, f"servers.{role}")
    for name, conf in (d.get("accessories") or {}).items():
        only_keys(conf, KAMAL_ACCESSORY, f"accessories.{name}")
    for k in ("service", "image", "servers", "registry", "builder"):
        need(k in d, f"missing required key {k}")
    need(isinstance(d.get("service"), str) and re.fullmatch(r"[a-z0-9_-]+", d.get("service", "")),
         "service is not a name")
    need(isinstance(d.get("image"), str) and d.get("image"), "image is empty")
    hosts = get(d, "servers.web.hosts")
    need(hosts == web.split(","), f"servers.web.hosts is {hosts}, want {web.split(',')}")
    need(get(d, "registry.username"), "registry.username missing")
    pw = get(d, "registry.password")
    need(isinstance(pw, list) and all(re.fullmatch(r"[A-Z_]+", p) for p in pw),
         "registry.password must name environment variables")
    need(get(d, "builder.arch") in ("amd64", "arm64"), "builder.arch missing")
    need(get(d, "proxy.ssl") is True and get(d, "proxy.host") == proxy_host,
         f"proxy is {d.get('proxy')}, want ssl for {proxy_host}")
    need(isinstance(get(d, "proxy.app_port"), int), "proxy.app_port is not a number")
    need(get(d, "ssh.user"), "ssh.user missing")
    acc = get(d, f"accessories.{acc_name}") or {}
    need(acc.get("host") == acc_addr, f"accessory {acc_name} host is {acc.get('host')}")
    need(acc.get("image"), f"accessory {acc_name} has no image")
    need(get(acc, "env.secret") == ["POSTGRES_PASSWORD"], "accessory secret is not by name")


if sys.argv[1] == "traefik":
    traefik(*sys.argv[2:7])
elif sys.argv[1] == "kamal":
    kamal(*sys.argv[2:7])
else:
    sys.exit("usage: check-config.py traefik|kamal ...")
for p in problems:
    print(p)
sys.exit(1 if problems else 0)
