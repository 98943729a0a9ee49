//! The host thread that runs one native node.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use berth_transport::{FrameKind, FrameReceiver, FrameSender, FrameSenderExt, monotonic_ns};

use super::{Frame, NativeNode};
use crate::control::ControlMessage;

/// Runs `node` on its own thread until every input ended or `stop` is set.
pub(crate) fn spawn_native(
    node_id: String,
    mut node: Box<dyn NativeNode>,
    mut readers: Vec<Box<dyn FrameReceiver>>,
    mut output: Box<dyn FrameSender>,
    mut control: Box<dyn FrameSender>,
    stop: Arc<AtomicBool>,
) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name(format!("berth-{node_id}"))
        .spawn(move || {
            let _span = tracing::info_span!("native_node", node_id = %node_id).entered();
            let mut say = |message: ControlMessage| {
                let _ =
                    control.send_bytes(FrameKind::Control, &message.to_payload(), monotonic_ns());
            };
            say(ControlMessage::Ready {
                pid: Some(u64::from(std::process::id())),
                cpu_ns: None,
            });
            let mut ended = vec![false; readers.len()];
            // One reader blocks; several take turns with short waits.
            let slice = if readers.len() == 1 {
                Duration::from_millis(100)
            } else {
                Duration::from_millis(1)
            };
            let mut processed = 0u64;
            while !stop.load(Ordering::Relaxed) && ended.iter().any(|e| !e) {
                for (index, reader) in readers.iter_mut().enumerate() {
                    if ended[index] {
                        continue;
                    }
                    let mut failure = None;
                    let mut sequence = 0;
                    let delivery = reader.receive_with(slice, &mut |header, payload| {
                        sequence = header.sequence;
                        if header.is_end_of_stream() {
                            ended[index] = true;
                            return;
                        }
                        processed += 1;
                        if let Err(error) = node.process(Frame { header, payload }, output.as_mut())
                        {
                            failure = Some((header.sequence, error));
                        }
                    });
                    match delivery {
                        Ok(Some(d)) if d.lost_before > 0 => say(ControlMessage::Lost {
                            input: reader.channel().to_string(),
                            expected: sequence - d.lost_before,
                            got: sequence,
                        }),
                        Ok(_) => {}
                        Err(e) => {
                            tracing::error!(error = %e, "native node input failed");
                            ended[index] = true;
                        }
                    }
                    if let Some((sequence, error)) = failure {
                        say(ControlMessage::Error {
                            sequence: Some(sequence),
                            error,
                            traceback: String::new(),
                        });
                    }
                }
            }
            let _ = output.send_end_of_stream();
            say(ControlMessage::Stopped { processed });
        })
}
