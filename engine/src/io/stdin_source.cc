// SPDX-License-Identifier: Apache-2.0
#include <unistd.h>

#include "eddy/registry.h"

#include "io/file_source.h"

EDDY_REGISTER_SOURCE(stdin) {
    eddy::SourceSpec spec("stdin");
    spec.summary("Reads JSON Lines, CSV or raw lines from standard input until it closes.")
        .description(
            "Never blocks the job for long: it waits at most 50 ms per poll for input. gzip and "
            "zstd input is detected and decompressed. Lines that cannot be decoded go to the "
            "`errors` output with their line number. Not resumable: a pipe cannot be rewound, so "
            "a job restarted from a checkpoint continues with whatever stdin gives next.");
    eddy::add_decoder_params(spec);
    spec.example("Raw lines piped in", R"(sources:
  lines:
    type: stdin
    format: raw
)")
        .factory([](const eddy::Config& cfg) -> eddy::Result<std::unique_ptr<eddy::Source>> {
            eddy::Result<eddy::DecoderOptions> options = eddy::decoder_options(cfg);
            if (!options.is_ok()) {
                return options.status();
            }
            return std::unique_ptr<eddy::Source>(std::make_unique<eddy::LineSource>(
                cfg.component(), std::move(options).value(),
                [](const eddy::LineReader::Options& o)
                    -> eddy::Result<std::unique_ptr<eddy::LineReader>> {
                    return eddy::LineReader::from_fd(STDIN_FILENO, "stdin", o);
                },
                /*resumable=*/false));
        });
    return spec.build();
}
