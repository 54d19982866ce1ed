"""`make audit`: known vulnerabilities in the frozen dependency tree, and whether Rasa 3.6's pins
allow the fixed version.

1. pip-audit (installed in its own virtual environment, so it never changes Rasa's tree) audits
   the frozen file exactly as pinned (`--no-deps --disable-pip`) against PyPI's vulnerability
   data.
2. A package pip-audit could not audit (the vulnerability service unreachable, say) is matched
   offline against a local copy of the PyPA advisory database (`--advisories DIR`, a clone of
   https://github.com/pypa/advisory-database) when one is given. Without one the audit fails:
   an incomplete audit is not a clean one.
3. For every vulnerable package: the installed distributions that depend on it and the
   specifier each puts on it (the pins, read from their metadata in this environment), and the
   earliest newer release that none of the package's known vulnerabilities affects. That
   release is the upgrade when every pin allows it; otherwise the finding is blocked by the pins,
   which are named.

Run it with the project's Python (it reads the installed distributions' metadata). Exit status:
0 when every finding is blocked by a pin, 1 when an allowed upgrade is still to be made, 2 when
some packages could not be audited.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import urllib.request
import zipfile
from dataclasses import dataclass, field
from email.parser import Parser
from importlib import metadata
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

SafeLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when available: 10x faster
INSTALLERS = ("pip", "setuptools", "wheel")
PYPI_PROJECT = "https://pypi.org/pypi/{name}/json"


@dataclass(frozen=True)
class Advisory:
    id: str
    aliases: Tuple[str, ...]
    ranges: Tuple[Tuple[Optional[str], Optional[str], Optional[str]], ...]  # (introduced, fixed, last_affected)
    versions: Tuple[str, ...]  # listed affected versions (OSV `versions`)
    fixed: Tuple[str, ...]  # the fix versions as published

    def affects(self, version: str) -> bool:
        if version in self.versions:
            return True
        v = _version(version)
        if v is None:
            return False
        for introduced, fixed, last in self.ranges:
            low = _version(introduced or "0") or Version("0")
            if v < low:
                continue
            if fixed is not None:
                if v < (_version(fixed) or low):
                    return True
            elif last is not None:
                if v <= (_version(last) or low):
                    return True
            else:
                return True
        return False

    def fixed_by(self, version: str) -> bool:
        """Whether `version` is past the fix: from the ranges when known, else from the fix
        versions alone (each fix counts for its own major.minor line and every later line)."""
        if self.ranges or self.versions:
            return not self.affects(version)
        v = Version(version)
        fixes = sorted((Version(f) for f in self.fixed if _version(f)))
        for i, fix in enumerate(fixes):
            if v >= fix and (i == len(fixes) - 1 or v.release[:2] == fix.release[:2]):
                return True
        return False

    @property
    def name(self) -> str:
        cves = [a for a in self.aliases if a.startswith("CVE-")]
        return f"{self.id} ({', '.join(cves)})" if cves else self.id


@dataclass
class Finding:
    package: str
    version: str
    advisories: List[Advisory] = field(default_factory=list)


def _version(text: Optional[str]) -> Optional[Version]:
    try:
        return Version(text) if text is not None else None
    except InvalidVersion:
        return None


def frozen_pins(path: Path) -> Dict[str, str]:
    """The frozen file's pins, plus the installers `make freeze` leaves out (pip, setuptools,
    wheel): they are part of the installed tree too, and setuptools is pinned by Rasa."""
    pins = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if "==" in line:
            name, _, version = line.partition("==")
            pins[canonicalize_name(name)] = version.strip()
    for installer in INSTALLERS:
        if installer not in pins:
            try:
                pins[installer] = metadata.version(installer)
            except metadata.PackageNotFoundError:
                pass
    return pins


def run_pip_audit(pip_audit: str, pins: Dict[str, str]) -> Tuple[List[Finding], List[str]]:
    """(findings, packages pip-audit could not audit)."""
    with tempfile.NamedTemporaryFile("w", suffix=".txt") as requirements:
        requirements.write("".join(f"{name}=={version}\n" for name, version in sorted(pins.items())))
        requirements.flush()
        result = subprocess.run(
            [pip_audit, "-r", requirements.name, "--no-deps", "--disable-pip", "--format", "json",
             "--progress-spinner", "off"], capture_output=True, text=True)
    if not result.stdout.strip():
        sys.exit(f"audit: pip-audit gave no report (exit {result.returncode}): {result.stderr.strip()[-500:]}")
    report = json.loads(result.stdout)
    findings, skipped = [], []
    for dependency in report.get("dependencies", []):
        if dependency.get("skip_reason"):
            skipped.append(canonicalize_name(dependency["name"]))
            continue
        advisories = [Advisory(v["id"], tuple(v.get("aliases") or ()), (), (), tuple(v.get("fix_versions") or ()))
                      for v in dependency.get("vulns") or []]
        if advisories:
            findings.append(Finding(canonicalize_name(dependency["name"]), dependency["version"], advisories))
    return findings, skipped


def load_advisories(folder: Path, packages: Iterable[str]) -> Dict[str, List[Advisory]]:
    """The PyPI advisories of `packages` in an OSV-format advisory database (`vulns/<package>/*.yaml`)."""
    wanted = set(packages)
    by_package: Dict[str, List[Advisory]] = {}
    paths = [path for directory in sorted((folder / "vulns").iterdir()) if canonicalize_name(directory.name) in wanted
             for path in sorted(directory.glob("*.yaml"))]
    for path in paths:
        record = yaml.load(path.read_text(encoding="utf-8"), Loader=SafeLoader)
        if record.get("withdrawn"):
            continue
        for affected in record.get("affected") or []:
            package = affected.get("package") or {}
            if package.get("ecosystem") != "PyPI":
                continue
            ranges, fixed = [], []
            for span in affected.get("ranges") or []:
                if span.get("type") != "ECOSYSTEM":
                    continue
                introduced = None
                for event in span.get("events") or []:
                    if "introduced" in event:
                        introduced = str(event["introduced"])
                    elif "fixed" in event or "last_affected" in event:
                        end = str(event.get("fixed") or event.get("last_affected"))
                        ranges.append((introduced, end, None) if "fixed" in event else (introduced, None, end))
                        fixed += [end] if "fixed" in event else []
                        introduced = None
                if introduced is not None:  # introduced and never fixed
                    ranges.append((introduced, None, None))
            if canonicalize_name(package.get("name", "")) not in wanted:
                continue
            by_package.setdefault(canonicalize_name(package["name"]), []).append(Advisory(
                record["id"], tuple(record.get("aliases") or ()), tuple(ranges),
                tuple(str(v) for v in affected.get("versions") or ()), tuple(fixed)))
    return by_package


def audit_offline(packages: Iterable[str], pins: Dict[str, str],
                  advisories: Dict[str, List[Advisory]]) -> List[Finding]:
    findings = []
    for package in packages:
        hits = [a for a in advisories.get(package, []) if a.affects(pins[package])]
        if hits:
            findings.append(Finding(package, pins[package], hits))
    return findings


def requested_extras() -> Dict[str, set]:
    """The extras some installed distribution asks for (`pymongo[srv,tls]`), per package."""
    extras: Dict[str, set] = {}
    for dist in metadata.distributions():
        for line in dist.requires or []:
            requirement = Requirement(line)
            if requirement.extras and (requirement.marker is None or requirement.marker.evaluate({"extra": ""})):
                extras.setdefault(canonicalize_name(requirement.name), set()).update(requirement.extras)
    return extras


def dependents_pins(package: str, extras: Dict[str, set]) -> List[Tuple[str, str, SpecifierSet]]:
    """(distribution, its version, the specifier it puts on `package`) for every installed
    distribution that requires it here: markers evaluated, extras only when someone asks for them."""
    pins = []
    for dist in metadata.distributions():
        name = dist.metadata["Name"]
        active = [""] + sorted(extras.get(canonicalize_name(name), ()))
        for line in dist.requires or []:
            requirement = Requirement(line)
            if canonicalize_name(requirement.name) != package or not str(requirement.specifier):
                continue
            if requirement.marker and not any(requirement.marker.evaluate({"extra": e}) for e in active):
                continue
            pins.append((name, dist.version, requirement.specifier))
    return sorted(set(pins), key=lambda pin: pin[0].lower())


def releases(package: str) -> List[str]:
    """Published, non-yanked final releases (PyPI's JSON API); [] when unreachable."""
    try:
        with urllib.request.urlopen(PYPI_PROJECT.format(name=package), timeout=30) as answer:
            data = json.load(answer)
    except OSError:
        return []
    return [v for v, files in data.get("releases", {}).items()
            if files and not all(f.get("yanked") for f in files) and _version(v) and not _version(v).is_prerelease]


def wheel_requirements(pip: str, package: str, version: str) -> Optional[List[Requirement]]:
    """The requirements `package==version` declares (from its wheel); None when unavailable."""
    with tempfile.TemporaryDirectory() as folder:
        subprocess.run([pip, "download", "--no-deps", "--only-binary", ":all:", "--quiet", "-d", folder,
                        f"{package}=={version}"], capture_output=True, text=True)
        wheels = list(Path(folder).glob("*.whl"))
        if not wheels:
            return None
        with zipfile.ZipFile(wheels[0]) as wheel:
            name = next(n for n in wheel.namelist() if n.endswith(".dist-info/METADATA"))
            fields = Parser().parsestr(wheel.read(name).decode("utf-8"))
    return [Requirement(line) for line in fields.get_all("Requires-Dist") or []]


def upgrade_conflicts(pip: str, package: str, version: str, frozen: Dict[str, str],
                      extras: Dict[str, set]) -> List[str]:
    """What `package==version` needs that no release allowed by the other pins gives."""
    requirements = wheel_requirements(pip, package, version)
    if requirements is None:
        return [f"could not read the requirements of {package} {version}"]
    conflicts = []
    for requirement in requirements:
        if requirement.marker and not requirement.marker.evaluate({"extra": ""}):
            continue
        dependency = canonicalize_name(requirement.name)
        have = frozen.get(dependency)
        if have is None or requirement.specifier.contains(have, prereleases=True):
            continue
        others = [pin for pin in dependents_pins(dependency, extras) if canonicalize_name(pin[0]) != package]
        wanted = [v for v in releases(dependency) if requirement.specifier.contains(v)]
        if not any(all(spec.contains(v, prereleases=True) for _, _, spec in others) for v in wanted):
            blocking = [f"{d} {v} requires {dependency}{spec}" for d, v, spec in others
                        if not any(spec.contains(w, prereleases=True) for w in wanted)]
            conflicts.append(f"{package} {version} needs {dependency}{requirement.specifier}, but "
                             + "; ".join(blocking or [f"the pins on {dependency} exclude it"]))
    return conflicts


def report(findings: Sequence[Finding], pip: str, frozen: Dict[str, str]) -> int:
    """Print each finding with its verdict; the number of allowed upgrades still to make."""
    upgrades, blocked = [], 0
    extras = requested_extras()
    for finding in sorted(findings, key=lambda f: f.package):
        current = Version(finding.version)
        pins = dependents_pins(finding.package, extras)
        allowed = [v for v in sorted({*releases(finding.package), *(f for a in finding.advisories for f in a.fixed)},
                                     key=Version) if Version(v) > current
                   and all(spec.contains(v, prereleases=True) for _, _, spec in pins)]
        # One version for the package: the lowest allowed release that fixes every advisory it
        # can, and what that release itself needs.
        fixable = [a for a in finding.advisories if any(a.fixed_by(v) for v in allowed)]
        target = next((v for v in allowed if all(a.fixed_by(v) for a in fixable)), None) if fixable else None
        conflicts = upgrade_conflicts(pip, finding.package, target, frozen, extras) if target else []
        print(f"{finding.package} {finding.version}")
        for advisory in finding.advisories:
            fixes = ", ".join(advisory.fixed) or "no fix released"
            if advisory in fixable and not conflicts:
                verdict = f"fixed-allowed: {target}"
            else:
                blocking = conflicts if advisory in fixable else [
                    f"{d} {v} requires {finding.package}{s}" for d, v, s in pins
                    if not any(s.contains(f, prereleases=True) for f in advisory.fixed)]
                verdict = "blocked-by-pin: " + "; ".join(blocking or ["no release within the pins fixes it"])
                blocked += 1
            print(f"  {advisory.name}  fixed in {fixes}  {verdict}")
        if target and not conflicts:
            upgrades.append(f"{finding.package}=={target}")
    print(f"\naudit: {sum(len(f.advisories) for f in findings)} known vulnerabilities in {len(findings)} packages; "
          f"{blocked} blocked by pins; upgrades the pins allow: {', '.join(upgrades) or 'none'}")
    return len(upgrades)


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pip-audit", default="var/audit-venv/bin/pip-audit")
    parser.add_argument("--pip", default="var/audit-venv/bin/pip", help="reads a candidate upgrade's requirements")
    parser.add_argument("--frozen", type=Path, default=Path("constraints.txt"))
    parser.add_argument("--advisories", type=Path, help="a local copy of the PyPA advisory database")
    args = parser.parse_args(argv)
    pins = frozen_pins(args.frozen)
    findings, skipped = run_pip_audit(args.pip_audit, pins)
    if args.advisories:
        offline = load_advisories(args.advisories, pins)
        findings += audit_offline(skipped, pins, offline)
        print(f"audit: {len(skipped)} of {len(pins)} packages audited offline against {args.advisories}")
        skipped = []
    to_upgrade = report(findings, args.pip, pins)
    if skipped:
        print(f"audit: INCOMPLETE: {len(skipped)} of {len(pins)} packages could not be audited "
              f"(vulnerability service unreachable?); give --advisories DIR (make audit ADVISORIES=DIR) "
              f"with a clone of https://github.com/pypa/advisory-database")
        return 2
    return 1 if to_upgrade else 0


if __name__ == "__main__":
    sys.exit(main())
