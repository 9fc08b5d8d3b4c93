/*
 * Creates the Kafka topics declared in schemas/topics.tsv, idempotently, with the kafka-clients
 * Admin API. Run as a single-file Java program by scripts/stack.sh:
 *
 *   java -cp "<kafka jars>/*" scripts/kafka/CreateTopics.java <bootstrap> schemas/topics.tsv
 *
 * The file has one topic a line: name, partitions, retention_ms, then free text, separated by
 * tabs; blank lines and lines starting with '#' are ignored. A missing topic is created with the
 * declared partitions, replication factor 1 and retention.ms. An existing topic is left alone,
 * except that: a declared partition count larger than the actual one is applied with
 * createPartitions (Kafka cannot shrink a topic, so a smaller declared count is only reported),
 * and a differing retention.ms is reported and set to the declared value. A command topic
 * (ss.cmd.*) is never grown: a key's partition is murmur2(key) % count, so growing it while its
 * old records drain gives a key two owners. That is refused (exit 1, nothing changed) with the
 * manual procedure of docs/architecture.md to follow instead.
 *
 * Exit status: 0 all topics exist as declared (or larger), 1 a Kafka or file error or a command
 * topic declared larger than it is, 2 usage.
 */

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.AlterConfigOp;
import org.apache.kafka.clients.admin.Config;
import org.apache.kafka.clients.admin.ConfigEntry;
import org.apache.kafka.clients.admin.NewPartitions;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.common.KafkaFuture;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.config.TopicConfig;
import org.apache.kafka.common.errors.TopicExistsException;

public final class CreateTopics {
    private static final int LINES_MAX = 10000;
    private static final long CALL_TIMEOUT_S = 60;
    private static final short REPLICATION_FACTOR = 1;
    private static final String COMMAND_TOPIC_PREFIX = "ss.cmd.";

    private record Declared(String name, int partitions, long retentionMs) {}

    private CreateTopics() {}

    public static void main(String[] args) {
        if (args.length != 2) {
            System.err.println("usage: CreateTopics <bootstrap servers> <topics.tsv>");
            System.exit(2);
        }
        int status;
        try {
            status = run(args[0], Path.of(args[1]));
        } catch (IOException | IllegalArgumentException e) {
            System.err.println("CreateTopics: " + e.getMessage());
            status = 1;
        } catch (ExecutionException e) {
            System.err.println("CreateTopics: Kafka refused: " + e.getCause());
            status = 1;
        } catch (java.util.concurrent.TimeoutException e) {
            System.err.println("CreateTopics: Kafka did not answer within " + CALL_TIMEOUT_S + " s");
            status = 1;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            System.err.println("CreateTopics: interrupted");
            status = 1;
        }
        System.exit(status);
    }

    private static Map<String, Declared> parse(Path file) throws IOException {
        List<String> lines = Files.readAllLines(file, StandardCharsets.UTF_8);
        if (lines.size() > LINES_MAX) {
            throw new IllegalArgumentException(file + ": more than " + LINES_MAX + " lines");
        }
        Map<String, Declared> topics = new LinkedHashMap<>();
        int lineNo = 0;
        for (String raw : lines) {
            lineNo++;
            String line = raw.strip();
            if (line.isEmpty() || line.startsWith("#")) {
                continue;
            }
            String[] f = raw.split("\t");
            String where = file + ":" + lineNo + ": ";
            if (f.length < 3) {
                throw new IllegalArgumentException(where + "expected name<TAB>partitions<TAB>retention_ms");
            }
            String name = f[0].strip();
            int partitions;
            long retention;
            try {
                partitions = Integer.parseInt(f[1].strip());
                retention = Long.parseLong(f[2].strip());
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException(where + "partitions and retention_ms must be integers");
            }
            if (!name.matches("[A-Za-z0-9._-]{1,249}")) {
                throw new IllegalArgumentException(where + "invalid topic name '" + name + "'");
            }
            if (partitions < 1 || (retention < 1 && retention != -1)) {
                throw new IllegalArgumentException(where + "partitions must be >= 1 and retention_ms >= 1 or -1");
            }
            if (topics.put(name, new Declared(name, partitions, retention)) != null) {
                throw new IllegalArgumentException(where + "topic '" + name + "' declared twice");
            }
        }
        return topics;
    }

    private static <T> T await(KafkaFuture<T> future)
            throws ExecutionException, InterruptedException, java.util.concurrent.TimeoutException {
        return future.get(CALL_TIMEOUT_S, TimeUnit.SECONDS);
    }

    private static int run(String bootstrap, Path file)
            throws IOException, ExecutionException, InterruptedException, java.util.concurrent.TimeoutException {
        Map<String, Declared> declared = parse(file);
        Properties props = new Properties();
        props.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        props.put(AdminClientConfig.CLIENT_ID_CONFIG, "shopstream-create-topics");
        props.put(AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, "15000");
        props.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, "60000");

        try (Admin admin = Admin.create(props)) {
            Set<String> existing = await(admin.listTopics().names());

            List<NewTopic> missing = new ArrayList<>();
            for (Declared d : declared.values()) {
                if (!existing.contains(d.name())) {
                    missing.add(new NewTopic(d.name(), d.partitions(), REPLICATION_FACTOR)
                            .configs(Map.of(TopicConfig.RETENTION_MS_CONFIG, Long.toString(d.retentionMs()))));
                }
            }
            for (Map.Entry<String, KafkaFuture<Void>> e : admin.createTopics(missing).values().entrySet()) {
                try {
                    await(e.getValue());
                    Declared d = declared.get(e.getKey());
                    System.out.printf("created %s (partitions %d, retention.ms %d)%n",
                            d.name(), d.partitions(), d.retentionMs());
                } catch (ExecutionException ex) {
                    if (!(ex.getCause() instanceof TopicExistsException)) {
                        throw ex;
                    }
                    /* Created concurrently by someone else: checked like any existing topic below. */
                }
            }

            Collection<String> names = declared.keySet();
            Map<String, TopicDescription> described = await(admin.describeTopics(names).allTopicNames());
            Map<String, NewPartitions> grow = new HashMap<>();
            List<String> refused = new ArrayList<>();
            for (Declared d : declared.values()) {
                int actual = described.get(d.name()).partitions().size();
                if (actual < d.partitions() && d.name().startsWith(COMMAND_TOPIC_PREFIX)) {
                    refused.add(String.format("%s has %d partitions, %d declared: a command topic is"
                            + " never grown automatically (a key's new commands would go to another"
                            + " partition while its old ones drain, giving it two owners). Follow"
                            + " \"Changing a command topic's partition count\" in docs/architecture.md,"
                            + " or declare %d again", d.name(), actual, d.partitions(), actual));
                } else if (actual < d.partitions()) {
                    System.out.printf("%s has %d partitions, %d declared: increasing%n",
                            d.name(), actual, d.partitions());
                    grow.put(d.name(), NewPartitions.increaseTo(d.partitions()));
                } else if (actual > d.partitions()) {
                    System.out.printf("%s has %d partitions, %d declared: Kafka cannot shrink a topic, left as is%n",
                            d.name(), actual, d.partitions());
                }
            }
            if (!refused.isEmpty()) {
                refused.forEach(System.err::println);
                return 1;
            }
            if (!grow.isEmpty()) {
                await(admin.createPartitions(grow).all());
            }

            List<ConfigResource> resources = new ArrayList<>();
            for (String name : names) {
                resources.add(new ConfigResource(ConfigResource.Type.TOPIC, name));
            }
            Map<ConfigResource, Config> configs = await(admin.describeConfigs(resources).all());
            Map<ConfigResource, Collection<AlterConfigOp>> alter = new HashMap<>();
            for (ConfigResource r : resources) {
                Declared d = declared.get(r.name());
                ConfigEntry entry = configs.get(r).get(TopicConfig.RETENTION_MS_CONFIG);
                String want = Long.toString(d.retentionMs());
                if (entry == null || !want.equals(entry.value())) {
                    System.out.printf("%s has retention.ms %s, %s declared: setting it%n",
                            d.name(), entry == null ? "unset" : entry.value(), want);
                    alter.put(r, List.of(new AlterConfigOp(
                            new ConfigEntry(TopicConfig.RETENTION_MS_CONFIG, want), AlterConfigOp.OpType.SET)));
                }
            }
            if (!alter.isEmpty()) {
                await(admin.incrementalAlterConfigs(alter).all());
            }
            System.out.printf("topics ok: %d declared, %d created, %d grown%n",
                    declared.size(), missing.size(), grow.size());
        }
        return 0;
    }
}
