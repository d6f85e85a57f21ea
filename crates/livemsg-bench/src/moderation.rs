//! Scenario 12 (run with the messages): what a room muted for all costs the users who may
//! still speak in it, against an open room.

use livemsg_proto::messaging::v1::messaging_service_client::MessagingServiceClient;

use crate::load;
use crate::Bench;

/// Speakers at once, as in the other message scenarios.
const CONCURRENCY: usize = 64;

impl Bench {
    /// Scenario 12: users speaking (the tier's client sends: membership and mute checked) in
    /// an open room, and in a room muted for all with every speaker exempt.
    pub(crate) async fn mute_cost(&mut self) -> anyhow::Result<()> {
        for (room, mute_all) in [("openroom", false), ("mutedroom", true)] {
            sqlx::query(
                "WITH g AS (
                     INSERT INTO groups (app_id, group_id, member_count, mute_all, exempt_users,
                                         muted_users)
                     VALUES ($1, $2, $3, $4,
                             CASE WHEN $4 THEN ARRAY(SELECT 'w' || i FROM generate_series(0, $3 - 1) i)
                                  ELSE '{}' END,
                             ARRAY(SELECT 'quiet' || i FROM generate_series(1, 30) i))
                     RETURNING group_pk
                 )
                 INSERT INTO group_members (group_pk, user_id, position, user_info)
                 SELECT g.group_pk, 'w' || i, i + 1, '' FROM g, generate_series(0, $3 - 1) i",
            )
            .bind(&self.seeded.app_id)
            .bind(room)
            .bind(CONCURRENCY as i32)
            .bind(mute_all)
            .execute(&self.seeded.pool)
            .await?;
        }
        let mut lines = Vec::new();
        for room in ["openroom", "mutedroom"] {
            let (channel, app_id) = (self.grpc.clone(), self.seeded.app_id.clone());
            let stats = load::run(
                CONCURRENCY,
                self.warmup(),
                self.seconds(),
                move |worker, _| {
                    let (mut tier, app_id) =
                        (MessagingServiceClient::new(channel.clone()), app_id.clone());
                    async move {
                        let sent = tier
                            .send_group_message(livemsg_proto::messaging::v1::ClientGroupMessage {
                                app_id,
                                group_id: room.into(),
                                sender_id: format!("w{worker}"),
                                body: "a bullet comment".into(),
                                msg_type: 1,
                                ..Default::default()
                            })
                            .await?
                            .into_inner();
                        anyhow::ensure!(sent.refused_code == 0, "refused: {}", sent.reason);
                        Ok(())
                    }
                },
            )
            .await;
            let label = if room == "openroom" {
                "12. client sends, open room, gRPC"
            } else {
                "12. client sends, room muted for all (speakers exempt, 30 muted), gRPC"
            };
            lines.push(self.push(label, CONCURRENCY, stats));
        }
        self.compare(lines[1], lines[0], "goal: no measurable cost");
        Ok(())
    }
}
