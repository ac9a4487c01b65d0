# exit 0
# stdout
# ldsim fix: snap leaky (base core22, classic confinement): 5 to patch, 0 refused, 0 left alone
set -e
cd -- $WORK/snaps/leaky
patchelf --force-rpath --set-rpath '$ORIGIN/../lib:/snap/core22/current/lib/x86_64-linux-gnu' bin/app
patchelf --set-interpreter /snap/core22/current/lib64/ld-linux-x86-64.so.2 --force-rpath --set-rpath '$ORIGIN/../lib:/snap/core22/current/lib/x86_64-linux-gnu' bin/tool
patchelf --force-rpath --set-rpath '$ORIGIN:/snap/core22/current/lib/x86_64-linux-gnu' lib/libpay.so.1
patchelf --force-rpath --set-rpath /snap/core22/current/lib/x86_64-linux-gnu lib/libpaydep.so.1
patchelf --force-rpath --set-rpath /snap/core22/current/lib/x86_64-linux-gnu lib/libunused.so.1
# stderr
