# api-sync-lib.sh: the setup the api-mode sync tests share (sourced after
# tests/lib.sh): a generated program served by annexcloud-emu and a
# pipeline annexcloud-source (mode api) -> file-sink ($T_TMP/out.jsonl).

# api_sync_setup SEED MEMBERS NAME [EMULATOR ARGS...]: generates a program
# of MEMBERS members (loyaltygen --seed SEED) in $T_TMP/prog, starts
# annexcloud-emu on it with the extra ARGS (e.g. --latency-ms 100), and
# writes the pipeline NAME to $T_TMP/NAME.cfg. Sets site_id and base (the
# emulator's URL); the emulator's secret is $SECRET.
api_sync_setup() {
    local seed=$1 count=$2 name=$3
    shift 3
    "$GEN_DIR/loyaltygen" --seed "$seed" --members "$count" --days 30 --truth none \
        --out "$T_TMP/prog" 2> "$T_TMP/gen.log" || t_fail "loyaltygen failed: $(tail -3 "$T_TMP/gen.log")"
    site_id=$(jq -r .site_id "$T_TMP/prog/program.json")
    t_start_emu annexcloud-emu "$T_TMP/emu.log" --secret "$SECRET" --site-id "$site_id" \
        --program "$T_TMP/prog" "$@"
    base="http://127.0.0.1:$T_EMU_PORT"
    cat > "$T_TMP/$name.cfg" <<CFG
pipeline = {
  name = "$name";
  state_dir = "$T_TMP/state";
  runtime_dir = "$T_TMP/run";
  stages = (
    { name = "src"; plugin = "annexcloud-source"; mode = "api"; base_url = "$base";
      site_id = "$site_id"; secret = "$SECRET"; },
    { name = "out"; plugin = "file-sink"; path = "$T_TMP/out.jsonl"; }
  );
};
CFG
}
