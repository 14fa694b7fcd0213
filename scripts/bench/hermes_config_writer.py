"""Imitates Hermes Agent's config.yaml writes (NousResearch/hermes-agent utils.py _atomic_write /
atomic_replace, hermes_cli/config.py save_config): read the raw file, set one key, dump the whole
dict to a mkstemp temp file, fsync, os.replace; on EXDEV/EBUSY (a bind-mounted file) copyfile +
copystat in place. No inter-process lock.
usage: hermes_config_writer.py <config.yaml> <prefix> <count> [sleep_between_read_and_write_s]"""
import errno, os, shutil, stat, sys, tempfile, time
from contextlib import suppress
import yaml

path, prefix, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
gap = float(sys.argv[4]) if len(sys.argv) > 4 else 0.0

def copy_fallback(tmp, real):
    shutil.copyfile(tmp, real)
    with suppress(OSError):
        shutil.copystat(tmp, real)
    with suppress(OSError), open(real, "rb") as f:
        os.fsync(f.fileno())
    os.unlink(tmp)

def atomic_yaml_write(p, data):
    mode = stat.S_IMODE(os.stat(p).st_mode) if os.path.exists(p) else None
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(p), prefix=".config_", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            if mode is not None:
                os.fchmod(f.fileno(), mode)
            yaml.safe_dump(data, f, default_flow_style=False, sort_keys=False)
            f.flush()
            os.fsync(f.fileno())
        real = os.path.realpath(p) if os.path.islink(p) else p
        try:
            os.replace(tmp, real)
        except OSError as exc:
            if exc.errno not in (errno.EXDEV, errno.EBUSY):
                raise
            copy_fallback(tmp, real)
        if mode is not None:
            with suppress(OSError):
                os.chmod(real, mode)
    except BaseException:
        with suppress(OSError):
            os.unlink(tmp)
        raise

done = 0
bad_reads = 0
for i in range(count):
    try:
        with open(path, encoding="utf-8") as f:
            raw = yaml.safe_load(f) or {}
    except yaml.YAMLError:
        bad_reads += 1
        continue  # Hermes' require_readable_config_before_write refuses: not written
    if not isinstance(raw, dict):
        bad_reads += 1
        continue
    if gap:
        time.sleep(gap)
    raw[f"{prefix}_k{i}"] = i
    atomic_yaml_write(path, raw)
    done += 1
print(f'{{"done": {done}, "bad_reads": {bad_reads}}}')
