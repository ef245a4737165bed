#!/bin/sh
# Command objective for the daemon tests: value (x-1)^2 (+ 1/(step+1) for the
# intermediate values), reported in the documented line format. The second
# argument picks a misbehaviour; the third is a nap in seconds per step.
# With HP_TEST_LOG set, start and end times are appended to that file so the
# test can check how many trials ran at once; with HP_TEST_PIDFILE set, the
# shell's pid is appended there.
x=$1
mode=${2:-ok}
nap=${3:-0}
log=${HP_TEST_LOG:-/dev/null}
now() { date +%s.%N; }
echo "start $HPSEARCH_TRIAL_NUMBER $(now)" >>"$log"
[ -n "${HP_TEST_PIDFILE:-}" ] && echo $$ >>"$HP_TEST_PIDFILE"
# With HP_TEST_PIDDIR set, an empty file named by the shell's pid is made
# there: it needs no byte written (a file size limit inherited from the
# daemon cuts a written pid short).
[ -n "${HP_TEST_PIDDIR:-}" ] && : >"$HP_TEST_PIDDIR/$$"
# With HP_TEST_ESCFILE set, a process escapes the trial first: its own
# session (setsid) and an empty environment (env -i); its pid is written to
# $HP_TEST_ESCFILE.<trial number>. The daemon must still kill it when the
# trial ends.
if [ -n "${HP_TEST_ESCFILE:-}" ]; then
  esc="$HP_TEST_ESCFILE.$HPSEARCH_TRIAL_NUMBER"
  setsid sh -c 'echo $$ >"$0.tmp"; mv "$0.tmp" "$0"; exec env -i sleep 300' "$esc" </dev/null >/dev/null 2>&1 &
  while ! [ -s "$esc" ]; do sleep 0.01; done
fi
case $mode in
  crash) kill -SEGV $$ ;;
  exit3) echo "something broke" >&2; exit 3 ;;
  garbage) echo '{not json'; sleep 5 ;;
  nan) echo '{"step": 0, "value": NaN}'; sleep 5 ;;
  nanfinal) echo '{"value": "nan"}'; exit 0 ;;
  hang) sleep 30 ;;
  novalue) echo "just some text"; exit 0 ;;
  dupkey) echo '{"value": 1, "value": 2}'; exit 0 ;;
  overflow) echo '{"step": 0, "value": 1e400}'; sleep 5 ;;
  badutf8) printf '{"value": 1, "note": "\377\303"}\n'; sleep 5 ;;
  waitgo) while ! [ -e "$HP_TEST_GO" ]; do sleep 0.02; done
          echo '{"value": 0.5, "extra": 5}'; exit 0 ;;
esac
for s in 0 1 2; do
  v=$(awk -v x="$x" -v s="$s" 'BEGIN { printf "%.6f", (x - 1) * (x - 1) + 1 / (s + 1) }')
  echo "{\"step\": $s, \"value\": $v}"
  [ "$nap" != 0 ] && sleep "$nap"
done
v=$(awk -v x="$x" 'BEGIN { printf "%.6f", (x - 1) * (x - 1) }')
echo "end $HPSEARCH_TRIAL_NUMBER $(now)" >>"$log"
echo "{\"value\": $v}"
