/* commands_state.h: the commands on a pipeline's state: `sluice dlq`
 * (cmd_dlq.c) and `sluice erase` (cmd_erase.c). */
#ifndef SLUICE_COMMANDS_STATE_H
#define SLUICE_COMMANDS_STATE_H

/* `sluice dlq list|show|replay|purge PIPELINE_FILE [...]`; argv[0] is
 * "dlq". The pipeline file is read for its state_dir and stages only
 * (no secret needs to be set). Returns the process exit status: 0,
 * 64 usage, 65 entry cannot be replayed (rejected by the source: raw
 * input; or parked by a stage the pipeline no longer has), 66 no such
 * entry, 74 state store unreadable, 78 config error. */
int sluice_cmd_dlq(int argc, char **argv);

/* `sluice erase PIPELINE_FILE --id ID... | --file IDS` queues erase records
 * into the stage after the source (the replay queue); `sluice erase
 * --status PIPELINE_FILE [--json]` lists the sinks' erasure entries without
 * PII beyond the loyalty id; argv[0] is "erase". No secret needs to be
 * set. Returns the process exit status: 0, 64 usage, 65 bad id, 66 IDS
 * unreadable, 74 state store error, 78 config error. */
int sluice_cmd_erase(int argc, char **argv);
#endif
