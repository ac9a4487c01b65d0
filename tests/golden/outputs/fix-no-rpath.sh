# exit 0
# stdout
# ldsim fix: snap no-rpath (base core22, classic confinement): 1 to patch, 0 refused, 0 left alone
set -e
cd -- $WORK/snaps/no-rpath
patchelf --force-rpath --set-rpath /snap/core22/current/lib/x86_64-linux-gnu bin/app
# stderr
