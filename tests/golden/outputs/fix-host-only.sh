# exit 0
# stdout
# ldsim fix: snap host-only (base core22, classic confinement): 2 to patch, 0 refused, 0 left alone
set -e
cd -- $WORK/snaps/host-only
patchelf --force-rpath --set-rpath '$ORIGIN:/snap/core22/current/lib/x86_64-linux-gnu' lib/libpay.so.1
patchelf --force-rpath --set-rpath /snap/core22/current/lib/x86_64-linux-gnu lib/libpaydep.so.1
# stderr
