"""Checks that docker/compose.yaml sets only environment variables its programs read.

For every service that runs a shopstream binary (its `command:` starts with `ss-`, or it has no
command and uses the shopstream image, whose default command is ss-ingress), each variable of its
`environment:` must be one that the binary's `--help` lists ("(env NAME)"). A service running one
of the image's scripts (init-db: /opt/shopstream/scripts/migrate.sh) must name variables the
script mentions. Other images' services (kafka, postgres, redis, init-topics) are not ours and
are skipped. YAML anchors and merge keys are resolved the way Compose resolves them.

usage: python3 compose_env.py <compose.yaml> <build-dir> <repo-root>
Prints one line per checked service; exits 1 naming each unknown variable, 2 on a usage error.
"""

import pathlib
import re
import subprocess
import sys

from ruamel.yaml import YAML

HELP_ENV = re.compile(r"\(env ([A-Z][A-Z0-9_]*)\)")
# The image's scripts, by the path compose runs them under (Dockerfile: /opt/shopstream).
IMAGE_ROOT = "/opt/shopstream/"
# The image's default command (docker/Dockerfile CMD).
IMAGE_DEFAULT_COMMAND = "ss-ingress"


def binaries(build_dir):
    """Maps each ss-* binary name to its path in the build folder."""
    found = {}
    for path in pathlib.Path(build_dir).glob("*/*/ss-*"):
        if path.is_file() and path.stat().st_mode & 0o111:
            found[path.name] = path
    return found


def help_variables(path):
    """The environment variables a binary's --help lists."""
    result = subprocess.run([str(path), "--help"], capture_output=True, text=True, timeout=30)
    if result.returncode != 0:
        raise SystemExit(f"{path} --help exited {result.returncode}: {result.stderr.strip()}")
    names = set(HELP_ENV.findall(result.stdout + result.stderr))
    if not names:
        raise SystemExit(f"{path} --help lists no environment variable")
    return names


def script_variables(path):
    """The $NAME / ${NAME...} references of a shell script and the helpers it sources."""
    text = path.read_text()
    common = path.parent / "lib" / "common.sh"
    if common.exists():
        text += common.read_text()
    return set(re.findall(r"\$\{?([A-Z][A-Z0-9_]*)", text))


def environment_names(service):
    env = service.get("environment") or {}
    if isinstance(env, dict):
        return list(env.keys())
    return [item.split("=", 1)[0] for item in env]


def command_of(service):
    command = service.get("command")
    if command is None:
        image = str(service.get("image", ""))
        return IMAGE_DEFAULT_COMMAND if "shopstream" in image else None
    if isinstance(command, str):
        command = command.split()
    return command[0] if command else None


def main(argv):
    if len(argv) != 4:
        print(__doc__.strip().splitlines()[-2], file=sys.stderr)
        return 2
    compose_path, build_dir, repo_root = argv[1], argv[2], pathlib.Path(argv[3])
    document = YAML(typ="safe").load(pathlib.Path(compose_path).read_text())
    built = binaries(build_dir)
    help_cache = {}
    errors = []
    for name, service in (document.get("services") or {}).items():
        program = command_of(service)
        if program is None:
            print(f"skip  {name}: not a shopstream program")
            continue
        if program.startswith(IMAGE_ROOT):
            script = repo_root / program[len(IMAGE_ROOT):]
            if not script.exists():
                errors.append(f"{name}: runs {program}, but {script} does not exist")
                continue
            known = script_variables(script)
        elif program.startswith("ss-"):
            if program not in built:
                errors.append(f"{name}: runs {program}, which is not in {build_dir}")
                continue
            if program not in help_cache:
                help_cache[program] = help_variables(built[program])
            known = help_cache[program]
        else:
            print(f"skip  {name}: runs {program}, not a shopstream program")
            continue
        names = environment_names(service)
        unknown = sorted(set(names) - known)
        for variable in unknown:
            errors.append(f"{name}: sets {variable}, which {program} does not read")
        print(f"{'FAIL' if unknown else 'ok':<5} {name}: {program}, {len(names)} variables")
    for error in errors:
        print(f"error: {error}", file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
